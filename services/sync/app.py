"""The sync service: keeps the National Public Service Portal up to date with each dossier.

The consumer queues the newest revision per dossier (handlers.py); the delivery worker drains
that backlog to the portal (delivery.py), so the consumer never waits on the portal.
"""

from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.sync.api import router
from services.sync.config import SyncSettings
from services.sync.delivery import DeliveryWorker
from services.sync.documents.api import router as documents_router
from services.sync.documents.models import Base  # the connector's tables join sync's metadata
from services.sync.documents.push import install as install_push
from services.sync.documents.queue import with_signing_requests
from services.sync.documents.wiring import connector
from services.sync.handlers import ACCEPTS, lifecycle_handler
from services.sync.portal.client import PortalClient
from services.sync.portal.codec import Dialect
from services.sync.portal.identity import IntakeIdentities, NoIdentities
from services.sync.portal.sender import PortalSender
from services.sync.portal.transport import AiohttpTransport, Transport
from shared.guards import install_guards
from shared.observability import health_router
from shared.ratelimit import Pacer
from shared.runtime import service_runtime
from shared.units import load_units


def portal_client(transport: Transport, settings: SyncSettings) -> PortalClient:
    return PortalClient(
        transport,
        username=settings.portal_username,
        password=settings.portal_password.get_secret_value(),
        dstcode=settings.portal_dstcode,
        madonvi=settings.portal_madonvi,
        auth_path=settings.portal_auth_path,
        service_path=settings.portal_service_path,
        quota=Pacer(settings.portal_calls_per_second, settings.portal_calls_burst)
        if settings.portal_calls_per_second > 0
        else None,
    )


def create_app(settings: SyncSettings | None = None) -> FastAPI:
    settings = settings or SyncSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        dialect = Dialect(load_units(), settings.dossier_code_pattern)
        handle_lifecycle_batch = lifecycle_handler(dialect)
        async with (
            AiohttpTransport(settings.portal_url, settings.portal_timeout_seconds) as client,
            AiohttpTransport(settings.intake_url or "http://intake.invalid", settings.portal_timeout_seconds) as intake,
        ):
            async with (
                service_runtime(
                    settings,
                    Base.metadata,
                    service="sync",
                    consume=lambda topics: [topics.lifecycle],
                    accepts=ACCEPTS,
                    # Signing requests are queued only when the document connector is on.
                    handle=lambda runtime: (
                        with_signing_requests(handle_lifecycle_batch) if settings.docsys_url else handle_lifecycle_batch
                    ),
                ) as runtime,
                connector(runtime, settings) as docsys,
            ):
                portal = PortalSender(
                    portal_client(client, settings),
                    runtime.sessionmaker,
                    dialect,
                    IntakeIdentities(intake, settings.intake_token.get_secret_value())
                    if settings.intake_url and settings.intake_token
                    else NoIdentities(),
                )
                # Workers share the backlog as replicas do (leases, SKIP LOCKED): a round waits on
                # the portal, the database and intake in turn, and another round can use that time.
                workers = [
                    DeliveryWorker(runtime.sessionmaker, portal, runtime.topics, settings, wake=runtime.relay.wake)
                    for _ in range(settings.delivery_workers)
                ]
                for n, worker in enumerate(workers):
                    # A runtime task: restarted if it fails, cancelled at shutdown before the relay drains.
                    runtime.spawn(f"delivery-{n}", worker.run)
                app.state.runtime, app.state.portal, app.state.settings = runtime, portal, settings
                app.state.delivery, app.state.docsys = workers, docsys
                yield

    app = FastAPI(title="Sync — national portal", version="1.1.0", lifespan=lifespan)
    install_guards(app, max_body_bytes=settings.max_body_bytes)
    install_push(app.state, settings)
    app.include_router(health_router())
    app.include_router(router)
    app.include_router(documents_router)
    return app
