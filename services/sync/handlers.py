"""Pushing canonical dossier states to the portal, newest revision per dossier only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from aiokafka import ConsumerRecord
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.sync.models import SyncState
from services.sync.portal import Portal, to_portal_record
from shared.consumer import Rejected
from shared.event_types import DossierState, SyncOutcome
from shared.events import EventError, data_of, make_event, parse_event, serialize
from shared.outbox import add_to_outbox
from shared.topics import Topics


def newest_states(records: Sequence[ConsumerRecord]) -> tuple[dict[str, DossierState], Rejected]:
    """The newest state per dossier in a batch; older revisions are superseded."""
    latest: dict[str, DossierState] = {}
    rejected: Rejected = []
    for record in records:
        try:
            envelope = parse_event(record.value)
            if envelope.type != "dossier.state":
                raise EventError([{"field": "type", "message": f"{envelope.type} is not dossier.state"}])
        except EventError as exc:
            rejected.append((record, f"invalid event: {exc}"))
            continue
        state = data_of(envelope)
        current = latest.get(state.dossier_code)
        if current is None or state.revision > current.revision:
            latest[state.dossier_code] = state
    return latest, rejected


async def handle_lifecycle_batch(
    session: AsyncSession, records: Sequence[ConsumerRecord], *, portal: Portal, topics: Topics, chunk: int
) -> Rejected:
    latest, rejected = newest_states(records)
    if not latest:
        return rejected
    rows = await session.execute(
        select(SyncState.dossier_code, SyncState.revision).where(SyncState.dossier_code.in_(latest))
    )
    held = dict(rows.tuples().all())
    # Never overwrite a newer status on the portal with an older one (redeliveries, replays).
    to_send = [s for code, s in latest.items() if s.revision > held.get(code, 0)]
    for start in range(0, len(to_send), chunk):
        await portal.sync([to_portal_record(s) for s in to_send[start : start + chunk]])
    if to_send:
        stmt = insert(SyncState).values(
            [{"dossier_code": s.dossier_code, "revision": s.revision, "status": int(s.status)} for s in to_send]
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[SyncState.dossier_code],
                set_={"revision": stmt.excluded.revision, "status": stmt.excluded.status, "synced_at": stmt.excluded.synced_at},
            )
        )
        await add_to_outbox(session, [(topics.portal_sync, s.dossier_code, _outcome(s)) for s in to_send])
    return rejected


def _outcome(s: DossierState) -> bytes:
    outcome = SyncOutcome(status=s.status, revision=s.revision, ok=True)
    return serialize(
        make_event(
            event_id=f"{s.dossier_code}:s{s.revision}",
            type="dossier.synced",
            source="sync",
            subject=s.dossier_code,
            time=datetime.now(UTC),
            data=outcome,
        )
    )
