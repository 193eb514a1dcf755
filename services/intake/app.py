"""The intake service: counter systems post dossier events here."""

from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.intake.api import router
from services.intake.config import IntakeSettings
from services.intake.identity import Keyring
from services.intake.internal import router as internal_router
from services.intake.models import Base
from services.intake.schema import type_bodies
from shared.credentials import KnownDigests
from shared.guards import edit_openapi, install_guards
from shared.observability import health_router
from shared.ratelimit import RateLimiter
from shared.runtime import service_runtime


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with service_runtime(settings, Base.metadata, service="intake", pool_size=10) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(
        title="Intake — dossier events",
        description="Counter systems (Bộ phận Một cửa) post dossier lifecycle events here.",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.keyring = Keyring.load(settings.identity_keys_file) if settings.identity_keys_file else None
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    app.state.auth_failure_limiter = RateLimiter(settings.auth_failures_per_second, settings.auth_failures_burst)
    app.state.known_keys = KnownDigests()
    install_guards(app, max_body_bytes=settings.max_body_bytes)
    edit_openapi(app, lambda document: type_bodies(document, settings.max_batch))
    app.include_router(router)
    app.include_router(internal_router)
    app.include_router(health_router())
    return app
