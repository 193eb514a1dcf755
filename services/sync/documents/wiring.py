"""Starting the connector inside the sync service: its delivery worker and its inbox poller."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx

from services.docsys_simulator.edxml import Organ
from services.sync.config import SyncSettings
from services.sync.delivery import DeliveryWorker, meters
from services.sync.documents.client import HttpDocsys
from services.sync.documents.inbox import Inbox
from services.sync.documents.tables import DOCSYS
from shared.runtime import Runtime

METERS = meters("docsys", "document system", "/v1/documents/failures")


@asynccontextmanager
async def connector(runtime: Runtime, settings: SyncSettings):
    """Run the connector's two loops for the service's lifetime; yields its client (None when off)."""
    if not settings.docsys_url:
        yield None
        return
    async with httpx.AsyncClient(base_url=settings.docsys_url, timeout=settings.docsys_timeout_seconds) as client:
        docsys = HttpDocsys(client, Organ(settings.docsys_organ_id, settings.docsys_organ_name))
        worker = DeliveryWorker(runtime.sessionmaker, docsys, runtime.topics, settings, wake=runtime.relay.wake,
                                tables=DOCSYS, outcome=lambda topics, c: None,
                                chunk=settings.docsys_chunk, meters=METERS, target="document system")
        inbox = Inbox(runtime.sessionmaker, docsys, runtime.topics, poll_seconds=settings.docsys_poll_seconds,
                      wake=runtime.relay.wake)
        # Runtime tasks: restarted if they fail, cancelled at shutdown.
        runtime.spawn("docsys delivery", worker.run)
        runtime.spawn("docsys inbox", inbox.run)
        yield docsys
