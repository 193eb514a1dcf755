"""The sync service: keeps the National Public Service Portal up to date with each dossier."""

from contextlib import asynccontextmanager
from functools import partial

import httpx
from fastapi import FastAPI

from services.sync.config import SyncSettings
from services.sync.handlers import handle_lifecycle_batch
from services.sync.models import Base
from services.sync.portal import HttpPortal
from shared.observability import health_router
from shared.runtime import service_runtime


def create_app(settings: SyncSettings | None = None) -> FastAPI:
    settings = settings or SyncSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with httpx.AsyncClient(base_url=settings.portal_url, timeout=settings.portal_timeout_seconds) as client:
            portal = HttpPortal(client, settings.portal_username, settings.portal_password.get_secret_value())

            def handler(runtime):
                return partial(handle_lifecycle_batch, portal=portal, topics=runtime.topics, chunk=settings.portal_chunk)

            async with service_runtime(
                settings,
                Base.metadata,
                service="sync",
                consume=lambda topics: [topics.lifecycle],
                handle=handler,
            ) as runtime:
                app.state.runtime = runtime
                yield

    app = FastAPI(title="Sync — national portal", version="1.0.0", lifespan=lifespan)
    app.include_router(health_router())
    return app
