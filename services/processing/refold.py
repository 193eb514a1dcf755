"""The processing use case: store new events, re-fold their dossiers from all their stored events,
publish the new states.

The Kafka handler calls `add_intake_events`; the overdue timer and the catalog's learning a code
store their synthetic events with INSERT_EVENTS themselves, then call `refold`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pydantic_core
from sqlalchemy import Text, cast, delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.processing.catalog import CatalogCache
from services.processing.lifecycle import fold
from services.processing.models import AnomalyRow, Dossier, DossierEvent, PendingCatalog
from services.processing.stored import StoredEvent, remember, stored_event
from services.processing.workcalendar import WorkCalendar
from services.processing.working import FoldRules
from shared.db import BulkInsert, any_of, none_of, upsert
from shared.deadletters import DeadLetter
from shared.event_types import Anomaly, Data, DossierState
from shared.events import Envelope, make_event, serialize
from shared.outbox import add_to_outbox
from shared.topics import Topics
from shared.units import load_units


async def add_intake_events(
    session: AsyncSession,
    events: Sequence[tuple[Envelope, Data]],
    *,
    calendar: WorkCalendar,
    catalog: CatalogCache,
    topics: Topics,
    rules: FoldRules = FoldRules(),
) -> None:
    """Store the events not stored yet (by id) and re-fold the dossiers they changed.

    A dossier of a procedure or unit the catalog does not know yet is kept and held (pending
    catalog), never dropped: it is judged when the catalog learns the code (pending.py)."""
    new_rows: dict[str, dict] = {}
    for e, data in events:
        encoded = pydantic_core.to_json(data)  # the normalized form, encoded once (Rust)
        new_rows[e.id] = {
            "id": e.id,
            "dossier_code": e.subject,
            "type": e.type,
            "time": e.time,
            "source": e.source,
            "data": encoded,
        }
        remember(e.type, encoded.decode(), data)  # what the folds below read back: decoded already
    if not new_rows:
        return
    changed = set((await INSERT_EVENTS.execute(session, list(new_rows.values()))).scalars())
    if changed:
        await refold(session, changed, calendar=calendar, catalog=catalog, topics=topics, rules=rules)


async def refold(
    session: AsyncSession,
    codes: set[str],
    *,
    calendar: WorkCalendar,
    catalog: CatalogCache,
    topics: Topics,
    rules: FoldRules = FoldRules(),
) -> None:
    """Recompute the given dossiers from all their events and publish their new states.

    Per-dossier advisory locks serialize this with the overdue timer and with another replica
    during a rebalance, so each fold sees every event committed before it.
    """
    ordered = sorted(codes)
    await lock_dossiers(session, ordered)
    ev = DossierEvent.__table__.c  # Core rows, not ORM objects: no identity map to build
    # The data as stored text (`json` keeps it verbatim): stored_event decodes what it has not seen.
    rows = await session.execute(
        select(ev.dossier_code, ev.id, ev.type, ev.time, cast(ev.data, Text)).where(any_of(ev.dossier_code, ordered))
    )
    events: dict[str, list[StoredEvent]] = defaultdict(list)
    for code, *event in rows.tuples():
        events[code].append(stored_event(*event))
    procedures = await catalog.procedures(session)
    units = load_units()

    def fold_one(code: str) -> DossierState | None:
        return fold(
            code, events[code], procedure=procedures.get, calendar=calendar, rules=rules, known_unit=units.__contains__
        )

    folded = {code: s for code in events if (s := fold_one(code)) is not None}
    now = datetime.now(UTC)
    # A deadline already passed (events arriving late, a backlog caught up) is recorded in the same
    # fold, as the overdue timer would record it a moment later: one new state, not one now and
    # another when the timer fires. Recording it never moves the deadline, so one round is enough.
    due = [deadline_event(s.dossier_code, d) for s in folded.values() if (d := _passed_deadline(s, now))]
    if due:
        inserted = set((await INSERT_EVENTS.execute(session, due)).scalars())
        for row in due:
            if (code := row["dossier_code"]) in inserted:
                events[code].append(stored_event(row["id"], row["type"], row["time"], row["data"]))
                if (refolded := fold_one(code)) is not None:  # (it was folded before: it still opens)
                    folded[code] = refolded
    states = list(folded.values())
    if not states:
        return
    encoded = [(s, pydantic_core.to_json(s)) for s in states]  # once, for the row and the event
    await UPSERT_DOSSIER.execute(session, [_dossier_row(s, data) for s, data in encoded])
    await _record_pending(session, states)
    new_anomalies = await _record_anomalies(session, states)
    messages = [(topics.lifecycle, s.dossier_code, serialize(_state_event(s, now), data)) for s, data in encoded]
    messages += [(topics.dead_letter, code, _anomaly_record(code, a)) for code, a in new_anomalies]
    await add_to_outbox(session, messages)


async def lock_dossiers(session: AsyncSession, ordered: list[str]) -> None:
    """Per-dossier advisory locks, taken in the order given (sorted: no two takers deadlock)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(c)) FROM unnest(CAST(:codes AS text[])) AS c"),
        {"codes": ordered},
    )


def deadline_event(code: str, deadline: datetime) -> dict[str, Any]:
    """The stored row of `dossier.deadline_passed`: its id is deterministic, so whoever records a
    deadline first (a fold, the timer, another replica) records it once."""
    return {
        "id": f"{code}:d{int(deadline.timestamp())}",
        "dossier_code": code,
        "type": "dossier.deadline_passed",
        "time": deadline,
        "source": "processing-timer",
        "data": {},
    }


def _passed_deadline(s: DossierState, now: datetime) -> datetime | None:
    """The deadline of an open dossier not marked overdue yet, if `now` is past it (the timer's
    condition)."""
    return s.deadline_at if s.deadline_at is not None and not s.overdue and s.deadline_at <= now else None


def _state_event(s: DossierState, now: datetime):
    """The state's envelope; its data, already encoded, goes in with serialize()."""
    return make_event(
        # Deterministic id: re-deriving the same revision yields the same event.
        event_id=f"{s.dossier_code}:r{s.revision}",
        type="dossier.state",
        source="processing",
        subject=s.dossier_code,
        time=now,
        data={},
    )


async def _record_anomalies(session: AsyncSession, states: list[DossierState]) -> list[tuple[str, Anomaly]]:
    """Make the anomalies table match the folds; return the anomalies seen for the first time."""
    codes = [s.dossier_code for s in states]
    await session.execute(
        delete(AnomalyRow)
        .where(any_of(AnomalyRow.dossier_code, codes))
        .where(none_of(AnomalyRow.event_id, [a.event_id for s in states for a in s.anomalies]))
    )
    found = [(s.dossier_code, a) for s in states for a in s.anomalies]
    if not found:
        return []
    stmt = insert(AnomalyRow).on_conflict_do_nothing().returning(AnomalyRow.event_id)
    rows = [
        {"event_id": a.event_id, "dossier_code": code, "type": a.type, "time": a.time, "reason": a.reason}
        for code, a in found
    ]
    inserted = set((await session.execute(stmt, rows)).scalars())
    return [(code, a) for code, a in found if a.event_id in inserted]


async def _record_pending(session: AsyncSession, states: list[DossierState]) -> None:
    """Make the pending-catalog list match the folds (a dossier leaves it once judged)."""
    await session.execute(
        delete(PendingCatalog).where(any_of(PendingCatalog.dossier_code, [s.dossier_code for s in states]))
    )
    rows = [
        {"dossier_code": s.dossier_code, "code": code, "unit_code": s.unit_code, "received_at": s.received_at}
        for s in states
        for code in s.pending_catalog
    ]
    if rows:
        await session.execute(insert(PendingCatalog).on_conflict_do_nothing(), rows)


def _anomaly_record(code: str, anomaly: Anomaly) -> bytes:
    """The dead letter of an illegal transition: the dossier and the event not applied."""
    return DeadLetter(
        service="processing",
        kind="illegal_transition",
        reason=anomaly.reason,
        dossier_code=code,
        event_id=anomaly.event_id,
        type=anomaly.type,
        event_time=anomaly.time,
    ).encode()


def _dossier_row(s: DossierState, state: bytes) -> dict:
    return {
        "code": s.dossier_code,
        "unit_code": s.unit_code,
        "status": int(s.status),
        "revision": s.revision,
        "due_at": s.due_at,
        "deadline_at": s.deadline_at,
        "overdue_pending": s.deadline_at is not None and not s.overdue,
        "state": state,
    }


_DOSSIER_COLUMNS = ["code", "unit_code", "status", "revision", "due_at", "deadline_at", "overdue_pending", "state"]
UPSERT_DOSSIER = BulkInsert(Dossier.__table__, _DOSSIER_COLUMNS, upsert("code", _DOSSIER_COLUMNS))
INSERT_EVENTS = BulkInsert(
    DossierEvent.__table__,
    ["id", "dossier_code", "type", "time", "source", "data"],
    "ON CONFLICT DO NOTHING RETURNING dossier_code",
)
