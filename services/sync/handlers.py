"""The consumer's side of sync: keep the newest revision per dossier in the durable backlog.

It never calls the portal (delivery.py does), so a slow or absent portal never holds back the
consumer; the backlog rows commit with the consumed offsets (one commit point per batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pydantic_core
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.sync.models import SyncBacklog, SyncState
from services.sync.portal.codec import Dialect, payload
from shared.consumer import Message, Rejected
from shared.db import BulkInsert, any_of
from shared.event_types import DossierState
from shared.revisions import newest, only_if_newer
from shared.units import load_units

# What the consumer hands this handler; anything else on the lifecycle topic is dead-lettered before it.
ACCEPTS = frozenset({("dossier.state", 1)})


def newest_states(messages: Sequence[Message]) -> dict[str, DossierState]:
    """The newest state per dossier in a batch; older revisions are superseded."""
    states = [cast(DossierState, m.data) for m in messages]  # dossier.state only (ACCEPTS)
    return newest(states, key=lambda s: s.dossier_code, revision=lambda s: s.revision)


def _row(s: DossierState, dialect: Dialect) -> dict:
    return {
        "dossier_code": s.dossier_code,
        "revision": s.revision,
        "status": int(s.status),
        "received_at": s.received_at,
        "record": pydantic_core.to_json(payload(s, dialect)),
        "attempts": 0,
        "parked": False,
    }


def lifecycle_handler(dialect: Dialect):
    """The consumer's handler, building records in the province's dialect (units, code pattern)."""

    async def handle(session: AsyncSession, messages: Sequence[Message]) -> Rejected:
        return await handle_lifecycle_batch(session, messages, dialect)

    return handle


async def handle_lifecycle_batch(
    session: AsyncSession, messages: Sequence[Message], dialect: Dialect | None = None
) -> Rejected:
    dialect = dialect or Dialect(load_units())
    latest = newest_states(messages)
    if not latest:
        return []
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
    return []


# A newer revision replaces the queued one and starts afresh; an older one is ignored.
QUEUE_NEWER = BulkInsert(
    SyncBacklog.__table__,
    ["dossier_code", "revision", "status", "received_at", "record", "attempts", "parked"],
    "ON CONFLICT (dossier_code) DO UPDATE SET revision = EXCLUDED.revision, status = EXCLUDED.status, "
    "received_at = EXCLUDED.received_at, record = EXCLUDED.record, attempts = 0, next_attempt_at = now(), "
    f"parked = false, last_error = NULL WHERE {only_if_newer(SyncBacklog.__tablename__)}",
)
