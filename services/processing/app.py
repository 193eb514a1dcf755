"""The processing service: the single authority on each dossier's state and verdict."""

from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from services.processing.api import router, upsert_procedures
from services.processing.catalog import CatalogCache, load_seed
from services.processing.config import ProcessingSettings
from services.processing.deadlines import run_overdue_timer
from services.processing.handlers import ACCEPTS, handle_intake_batch
from services.processing.models import Base
from services.processing.pending import Folding, learn_known
from services.processing.workcalendar import load_calendar
from services.processing.working import FoldRules
from shared.guards import install_guards
from shared.observability import health_router
from shared.runtime import service_runtime


def create_app(settings: ProcessingSettings | None = None) -> FastAPI:
    settings = settings or ProcessingSettings()
    calendar = load_calendar(settings.holidays_path, cutoff=settings.cutoff)
    catalog = CatalogCache()
    rules = FoldRules(extension_moves_due_date=settings.extension_moves_due_date)

    def handler(runtime):
        return partial(handle_intake_batch, calendar=calendar, catalog=catalog, topics=runtime.topics, rules=rules)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with service_runtime(
            settings,
            Base.metadata,
            service="processing",
            consume=lambda topics: [topics.dossier_events],
            accepts=ACCEPTS,
            handle=handler,
            seed=seed_catalog,
        ) as runtime:
            app.state.runtime = runtime
            app.state.folding = Folding(calendar, catalog, runtime.topics, rules)
            # Codes learned while stopped (a new unit file, a catalog import by command): judge them.
            async with runtime.sessionmaker() as session, session.begin():
                await learn_known(session, app.state.folding)
            runtime.spawn(
                "overdue timer",
                partial(
                    run_overdue_timer,
                    runtime.sessionmaker,
                    calendar=calendar,
                    catalog=catalog,
                    topics=runtime.topics,
                    wake=runtime.relay.wake,
                    rules=rules,
                ),
            )
            yield

    async def seed_catalog(session) -> None:
        # Seed entries never overwrite what operators changed through the API.
        await session.execute(upsert_procedures(list(load_seed(settings.catalog_path).values()), replace=False))

    app = FastAPI(
        title="Processing — dossier lifecycle",
        description="Dossier states, due dates and on-time verdicts; the procedure catalog.",
        version="1.0.0",
        lifespan=lifespan,
    )
    install_guards(app, max_body_bytes=settings.max_body_bytes)
    app.include_router(router)
    app.include_router(health_router())
    return app
