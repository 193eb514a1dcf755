"""No route of a service or simulator runs code in FastAPI's thread pool: a plain `def` endpoint or
dependency is called through a worker thread, a hand-off per request that cost intake and the
portal simulator a large share of their CPU under load (bench/README.md). Everything they do per
request is asynchronous or quick, so every endpoint and dependency is `async def`."""

from __future__ import annotations

import inspect

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from services.intake.app import create_app as create_intake
from services.intake.config import IntakeSettings
from services.metrics.app import create_app as create_metrics
from services.metrics.config import MetricsSettings
from services.processing.app import create_app as create_processing
from services.processing.config import ProcessingSettings
from services.sync.app import create_app as create_sync
from services.sync.config import SyncSettings
from simulators.docsys.app import create_app as create_docsys
from simulators.portal.app import create_app as create_portal

APPS = {
    "intake": lambda: create_intake(IntakeSettings(applicant_id_key="k")),
    "processing": lambda: create_processing(ProcessingSettings()),
    "sync": lambda: create_sync(SyncSettings(portal_username="u", portal_password="p")),
    "metrics": lambda: create_metrics(MetricsSettings()),
    "portal simulator": create_portal,
    "docsys simulator": create_docsys,
}


def threaded(dependant: Dependant, where: str) -> list[str]:
    """The calls of this dependant and its dependencies that FastAPI would run in a thread."""
    found = []
    call = dependant.call
    # An instance (a security scheme) is called through its class's __call__.
    instance = call is not None and not inspect.isroutine(call) and inspect.iscoroutinefunction(type(call).__call__)
    if call is not None and not (inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call) or instance):
        found.append(f"{where}: {getattr(call, '__qualname__', call)!r}")
    for sub in dependant.dependencies:
        found += threaded(sub, where)
    return found


def routes_in_threads(app: FastAPI) -> list[str]:
    return _walk(app.router.routes, [])


def _walk(routes: list, inherited: list) -> list[str]:
    """Each route, those of included routers too (FastAPI keeps them nested), with the
    dependencies its routers add."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            where = f"{sorted(route.methods)} {route.path}"
            found += threaded(route.dependant, where)
            found += [f"{where}: {d!r}" for d in inherited if not inspect.iscoroutinefunction(d)]
        elif (router := getattr(route, "original_router", None)) is not None:
            extra = [d.dependency for d in router.dependencies]
            found += _walk(router.routes, inherited + extra)
    return found


@pytest.mark.parametrize("name", APPS)
def test_every_endpoint_and_dependency_is_async(name):
    assert routes_in_threads(APPS[name]()) == []


def test_the_check_finds_a_plain_def():
    app = FastAPI()

    def blocking() -> int:
        return 1

    from fastapi import Depends

    @app.get("/x")
    async def x(n: int = Depends(blocking)) -> int:
        return n

    assert routes_in_threads(app) == ["['GET'] /x: 'test_the_check_finds_a_plain_def.<locals>.blocking'"]
