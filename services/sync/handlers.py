"""The consumer's side of sync: keep the newest revision per dossier in the durable backlog.

It never calls the portal (delivery.py does), so a slow or absent portal never holds back the
consumer; the backlog rows commit with the consumed offsets (one commit point per batch).
"""

from __future__ import annotations

from collections.abc import Sequence

import pydantic_core
from aiokafka import ConsumerRecord
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.sync.models import SyncBacklog, SyncState
from services.sync.portal.codec import Dialect, payload
from shared.consumer import Rejected
from shared.db import BulkInsert, any_of
from shared.event_types import DossierState
from shared.events import EventError, parse_typed
from shared.revisions import newest, only_if_newer
from shared.units import load_units


def newest_states(records: Sequence[ConsumerRecord]) -> tuple[dict[str, DossierState], Rejected]:
    """The newest state per dossier in a batch; older revisions are superseded."""
    states: list[DossierState] = []
    rejected: Rejected = []
    for record in records:
        try:
            envelope, state = parse_typed(record.value)
            if envelope.type != "dossier.state" or not isinstance(state, DossierState):
                raise EventError([{"field": "type", "message": f"{envelope.type} is not dossier.state"}])
        except EventError as exc:
            rejected.append((record, f"invalid event: {exc}"))
            continue
        states.append(state)
    return newest(states, key=lambda s: s.dossier_code, revision=lambda s: s.revision), rejected


def _row(s: DossierState, dialect: Dialect) -> dict:
    return {"dossier_code": s.dossier_code, "revision": s.revision, "status": int(s.status),
            "received_at": s.received_at, "record": pydantic_core.to_json(payload(s, dialect)),
            "attempts": 0, "parked": False}


def lifecycle_handler(dialect: Dialect):
    """The consumer's handler, building records in the province's dialect (units, code pattern)."""
    async def handle(session: AsyncSession, records: Sequence[ConsumerRecord]) -> Rejected:
        return await handle_lifecycle_batch(session, records, dialect)
    return handle


async def handle_lifecycle_batch(session: AsyncSession, records: Sequence[ConsumerRecord],
                                 dialect: Dialect | None = None) -> Rejected:
    dialect = dialect or Dialect(load_units())
    latest, rejected = newest_states(records)
    if not latest:
        return rejected
    rows = await session.execute(
        select(SyncState.dossier_code, SyncState.revision).where(any_of(SyncState.dossier_code, latest))
    )
    held = dict(rows.tuples().all())
    # Never queue what the portal already holds (redeliveries, replays).
    # Sorted by dossier code: every statement on the backlog locks rows in this order, so the
    # consumer and the delivery worker never deadlock.
    wanted = [_row(s, dialect) for code, s in sorted(latest.items()) if s.revision > held.get(code, 0)]
    if wanted:
        await QUEUE_NEWER.execute(session, wanted)
    return rejected


# A newer revision replaces the queued one and starts afresh; an older one is ignored.
QUEUE_NEWER = BulkInsert(
    SyncBacklog.__table__, ["dossier_code", "revision", "status", "received_at", "record", "attempts", "parked"],
    "ON CONFLICT (dossier_code) DO UPDATE SET revision = EXCLUDED.revision, status = EXCLUDED.status, "
    "received_at = EXCLUDED.received_at, record = EXCLUDED.record, attempts = 0, next_attempt_at = now(), "
    f"parked = false, last_error = NULL WHERE {only_if_newer(SyncBacklog.__tablename__)}")
