"""The sync service: keeps the National Public Service Portal up to date with each dossier.

The consumer queues the newest revision per dossier (handlers.py); the delivery worker drains
that backlog to the portal (delivery.py), so the consumer never waits on the portal.
"""

from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from services.sync.api import router
from services.sync.config import SyncSettings
from services.sync.delivery import DeliveryWorker
from services.sync.documents.api import router as documents_router
from services.sync.documents.push import install as install_push
from services.sync.documents.models import Base  # the connector's tables join sync's metadata
from services.sync.documents.queue import with_signing_requests
from services.sync.documents.wiring import connector
from services.sync.handlers import handle_lifecycle_batch
from services.sync.portal import HttpPortal
from shared.guards import install_guards
from shared.observability import health_router
from shared.runtime import service_runtime


def create_app(settings: SyncSettings | None = None) -> FastAPI:
    settings = settings or SyncSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with httpx.AsyncClient(base_url=settings.portal_url, timeout=settings.portal_timeout_seconds) as client:
            portal = HttpPortal(client, settings.portal_username, settings.portal_password.get_secret_value())
            async with service_runtime(
                settings,
                Base.metadata,
                service="sync",
                consume=lambda topics: [topics.lifecycle],
                # Signing requests are queued only when the document connector is on.
                handle=lambda runtime: (with_signing_requests(handle_lifecycle_batch) if settings.docsys_url
                                        else handle_lifecycle_batch),
            ) as runtime, connector(runtime, settings) as docsys:
                worker = DeliveryWorker(runtime.sessionmaker, portal, runtime.topics, settings,
                                        wake=runtime.relay.wake)
                # A runtime task: restarted if it fails, cancelled at shutdown before the relay drains.
                runtime.spawn("delivery", worker.run)
                app.state.runtime, app.state.portal, app.state.settings = runtime, portal, settings
                app.state.delivery, app.state.docsys = worker, docsys
                yield

    app = FastAPI(title="Sync — national portal", version="1.1.0", lifespan=lifespan)
    install_guards(app, max_body_bytes=settings.max_body_bytes)
    install_push(app.state, settings)
    app.include_router(health_router())
    app.include_router(router)
    app.include_router(documents_router)
    return app
