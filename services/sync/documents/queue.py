"""The consumer's side of the connector: queue a signing request when a dossier needs one.

It wraps sync's lifecycle handler, so the portal backlog and the signing requests commit in
the same transaction as the consumed offsets (one commit point per batch).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.sync.documents.models import DocsysBacklog, DocsysRequest
from services.sync.documents.request import needs_signing, request_record
from services.sync.handlers import newest_states
from shared.consumer import BatchHandler, Message, Rejected


def with_signing_requests(handle: BatchHandler) -> BatchHandler:
    async def handle_batch(session: AsyncSession, messages: Sequence[Message]) -> Rejected:
        rejected = await handle(session, messages)
        latest = newest_states(messages)
        await queue_signing_requests(session, [s for s in latest.values() if needs_signing(s)])
        return rejected

    return handle_batch


async def queue_signing_requests(session: AsyncSession, states: list) -> int:
    """One request per dossier: never again once the document system has taken one."""
    if not states:
        return 0
    held = set(
        (
            await session.execute(
                select(DocsysRequest.dossier_code).where(
                    DocsysRequest.dossier_code.in_([s.dossier_code for s in states])
                )
            )
        ).scalars()
    )
    rows = [
        {
            "dossier_code": s.dossier_code,
            "revision": s.revision,
            "status": int(s.status),
            "received_at": s.received_at,
            "record": request_record(s),
        }
        for s in states
        if s.dossier_code not in held
    ]
    if rows:
        await session.execute(insert(DocsysBacklog).values(rows).on_conflict_do_nothing())
    return len(rows)
