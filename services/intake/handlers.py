"""Accepting counter-system events: validate each on its own, store new ones with outbox rows."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.apikeys import Caller
from services.intake.identity import CLOSING, Clear, Keyring, mark_closed, store
from services.intake.models import AcceptedEvent
from services.intake.pii import pseudonymize
from services.intake.scope import dossier_unit, out_of_scope
from shared.db import BulkInsert, any_of
from shared.event_types import INTAKE_MODELS
from shared.events import Envelope, EventError, parse_event, serialize
from shared.outbox import add_to_outbox
from shared.units import UnitTree

log = logging.getLogger(__name__)
Outcome = Literal["accepted", "duplicate", "conflict", "rejected", "forbidden"]
# Units that must be in the unit list. A dossier's own (handling) unit_code need not be: processing
# holds a dossier of an unknown unit (pending catalog) until the unit list learns it.
UNIT_FIELDS = ("receiving_unit_code", "from_unit", "to_unit")


@dataclass
class ItemResult:
    index: int
    id: str | None
    status: Outcome
    errors: list[dict[str, str]] = field(default_factory=list)


@dataclass
class _Valid:
    index: int
    envelope: Envelope
    value: bytes
    digest: str
    clear: Clear | None = None  # the applicant's clear identity: to the encrypted store only


class Forbidden(EventError):
    """A valid event for a unit the posting key is not bound to."""


# The document system's status messages reach processing from sync's connector only (a recall
# agreed withdraws a result: a counter must not be able to say so).
NOT_FROM_COUNTERS = {"dossier.document_status"}


def validate(
    raw: Any, *, caller: Caller, units: UnitTree, now: datetime, max_skew: timedelta, applicant_key: bytes
) -> tuple[Envelope, Clear | None]:
    """Contract checks plus intake's own: a known counter event type, known units, sane time,
    a unit the caller may post for, a unit_code that is the dossier's own; the applicant's
    identity number replaced by its pseudonym (the clear identity is returned beside, for the
    encrypted store); the source set from the key, whatever was posted (a counter system cannot
    speak as the document system)."""
    hidden, clear = pseudonymize(raw, applicant_key)
    envelope = parse_event(hidden)
    if (envelope.type, envelope.version) not in INTAKE_MODELS or envelope.type in NOT_FROM_COUNTERS:
        raise EventError([{"field": "type", "message": f"{envelope.type!r} is not posted by counters"}])
    errors = [
        {"field": f"data.{name}", "message": f"unknown unit code {envelope.data[name]!r}"}
        for name in UNIT_FIELDS
        if name in envelope.data and envelope.data[name] not in units
    ]
    if envelope.time > now + max_skew:
        errors.append({"field": "time", "message": "is in the future"})
    if errors:
        raise EventError(errors)
    if forbidden := out_of_scope(envelope, caller, units):
        raise Forbidden(forbidden)
    # Checked after the scope, so that a key bound to one unit hears 403 for another unit's code;
    # a province-wide key may post for both units, but a dossier is counted for its own.
    unit_code, own = envelope.data.get("unit_code"), dossier_unit(envelope.subject)
    if isinstance(unit_code, str) and unit_code != own:
        raise EventError([{"field": "data.unit_code", "message": f"must be the dossier code's unit {own}"}])
    envelope.source = caller.name
    return envelope, clear


async def accept_events(
    session: AsyncSession,
    items: list[Any],
    *,
    caller: Caller,
    topic: str,
    units: UnitTree,
    max_skew: timedelta,
    applicant_key: bytes,
    keyring: Keyring | None = None,
) -> list[ItemResult]:
    """Judge every item on its own; store the new valid ones and queue them for Kafka."""
    now = datetime.now(UTC)
    results: dict[int, ItemResult] = {}
    valid: dict[str, _Valid] = {}
    for index, raw in enumerate(items):
        try:
            envelope, clear = validate(
                raw, caller=caller, units=units, now=now, max_skew=max_skew, applicant_key=applicant_key
            )
        except EventError as exc:
            event_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
            status: Outcome = "forbidden" if isinstance(exc, Forbidden) else "rejected"
            results[index] = ItemResult(index, event_id, status, exc.errors)
            continue
        except (ValueError, ArithmeticError, TypeError) as exc:  # a check that failed on odd input
            # The item is refused; the batch's other items are still judged (never a 500 for all).
            log.warning("item %d of a batch could not be validated: %s", index, type(exc).__name__)
            results[index] = ItemResult(index, None, "rejected", [{"field": "(event)", "message": "invalid event"}])
            continue
        value = serialize(envelope)
        digest = hashlib.sha256(value).hexdigest()
        if envelope.id in valid:  # the same id twice in one batch
            same = valid[envelope.id].digest == digest
            results[index] = ItemResult(index, envelope.id, "duplicate" if same else "conflict")
            continue
        valid[envelope.id] = _Valid(index, envelope, value, digest, clear)

    inserted = await _insert_new(session, list(valid.values()))
    await add_to_outbox(
        session, [(topic, v.envelope.subject, v.value) for v in valid.values() if v.envelope.id in inserted]
    )
    new = [v for v in valid.values() if v.envelope.id in inserted]
    if keyring is not None:  # without keys the clear identity is dropped, as before
        await store(session, keyring, {v.envelope.subject: v.clear for v in new if v.clear is not None})
    closing = {v.envelope.subject: v.envelope.time for v in new if v.envelope.type in CLOSING}
    if closing:
        await mark_closed(session, closing)
    stored = await _stored_digests(session, [i for i in valid if i not in inserted])
    for event_id, v in valid.items():
        if event_id in inserted:
            results[v.index] = ItemResult(v.index, event_id, "accepted")
        else:
            same = stored.get(event_id) == v.digest
            results[v.index] = ItemResult(v.index, event_id, "duplicate" if same else "conflict")
    return [results[i] for i in range(len(items))]


async def _insert_new(session: AsyncSession, valid: list[_Valid]) -> set[str]:
    if not valid:
        return set()
    rows = [
        {
            "id": v.envelope.id,
            "type": v.envelope.type,
            "subject": v.envelope.subject,
            "source": v.envelope.source,
            "time": v.envelope.time,
            "digest": v.digest,
            "body": v.value,  # the serialized event: JSON already
        }
        for v in valid
    ]
    return set((await INSERT_NEW.execute(session, rows)).scalars())


async def _stored_digests(session: AsyncSession, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = await session.execute(select(AcceptedEvent.id, AcceptedEvent.digest).where(any_of(AcceptedEvent.id, ids)))
    return dict(rows.tuples().all())


INSERT_NEW = BulkInsert(
    AcceptedEvent.__table__,
    ["id", "type", "subject", "source", "time", "digest", "body"],
    'ON CONFLICT ("id") DO NOTHING RETURNING id',
)
