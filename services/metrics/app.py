"""The metrics service: official indicators derived from the canonical event streams."""

from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from services.metrics.api import dossier_router, router
from services.metrics.catalog import CatalogView
from services.metrics.config import MetricsSettings
from services.metrics.gauges import refresh_forever
from services.metrics.handlers import ACCEPTS, handle_canonical_batch
from services.metrics.models import Base
from services.metrics.reports import Options
from services.metrics.rollups import ensure_rollups, fold_forever
from shared.guards import install_guards
from shared.observability import health_router
from shared.runtime import service_runtime

DASHBOARD = Path(__file__).parent / "dashboard"


def create_app(settings: MetricsSettings | None = None) -> FastAPI:
    settings = settings or MetricsSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with (
            httpx.AsyncClient(base_url=settings.processing_url, timeout=10) as http,
            service_runtime(
                settings,
                Base.metadata,
                service="metrics",
                consume=lambda topics: [topics.lifecycle, topics.portal_sync],
                accepts=ACCEPTS,
                handle=lambda runtime: handle_canonical_batch,
                seed=ensure_rollups,
            ) as runtime,
        ):
            app.state.runtime = runtime

            async def options() -> Options:  # as the API's reports: the weights and processing's catalog
                return Options(weights=settings.online_service_weights, catalog=await catalog.get(http))

            runtime.spawn("rollup fold", lambda: fold_forever(runtime.sessionmaker, settings.rollup_fold_seconds))
            runtime.spawn(
                "indicator gauges",
                lambda: refresh_forever(runtime.sessionmaker, options, settings.gauge_interval_seconds),
            )
            app.state.processing = http  # services/metrics/deps.py: ProcessingDep
            yield

    app = FastAPI(
        title="Metrics — dossier indicators",
        description="Chỉ số chất lượng phục vụ (Quyết định 766), chỉ tiêu Kế hoạch 617, báo cáo tháng.",
        version="1.0.0",
        lifespan=lifespan,
    )
    # What the routes take as typed dependencies (config.SettingsDep, deps.CatalogDep).
    catalog = CatalogView(settings.catalog_ttl)
    app.state.settings, app.state.catalog = settings, catalog
    install_guards(app, max_body_bytes=settings.max_body_bytes)
    app.include_router(router)
    app.include_router(dossier_router)
    app.include_router(health_router())
    app.mount("/static", StaticFiles(directory=DASHBOARD), name="static")

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(DASHBOARD / "index.html")

    return app
