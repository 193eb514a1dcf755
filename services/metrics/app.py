"""The metrics service: official indicators derived from the canonical event streams."""

from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.metrics.api import router
from services.metrics.config import MetricsSettings
from services.metrics.handlers import handle_canonical_batch
from services.metrics.models import Base
from shared.observability import health_router
from shared.runtime import service_runtime


def create_app(settings: MetricsSettings | None = None) -> FastAPI:
    settings = settings or MetricsSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with service_runtime(
            settings,
            Base.metadata,
            service="metrics",
            consume=lambda topics: [topics.lifecycle, topics.portal_sync],
            handle=lambda runtime: handle_canonical_batch,
        ) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(
        title="Metrics — dossier indicators",
        description="Chỉ số chất lượng phục vụ (Quyết định 766) per unit and period.",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.include_router(router)
    app.include_router(health_router())
    return app
