"""Routes take what they need as typed parameters (shared/deps.py, each service's deps.py and
config.py), never from `request.app.state`: only the dependency providers read the app's state,
so a route's signature says what it uses and a test can override it."""

from __future__ import annotations

import inspect
from pathlib import Path

from tests.checks.test_answers_typed import APPS, api_routes

ROOT = Path(__file__).resolve().parents[2]


def route_modules() -> set[Path]:
    """The files under services/ that define a route of one of the four apps. (shared's
    observability.py is not among them: its readiness probe must answer before the runtime it
    checks exists, so it looks the runtime up itself.)"""
    found = set()
    for factory in APPS.values():
        for route in api_routes(factory()):
            file = Path(inspect.getfile(route.original_route.endpoint)).resolve()
            if file.is_relative_to(ROOT / "services"):
                found.add(file)
    return found


def test_routes_take_typed_dependencies():
    modules = route_modules()
    assert {"intake/api.py", "processing/api.py", "sync/api.py", "metrics/api.py"} <= {
        str(m.relative_to(ROOT / "services")) for m in modules
    }  # the walk saw the routes
    offenders = {
        str(m.relative_to(ROOT)): n
        for m in sorted(modules)
        if (n := m.read_text(encoding="utf-8").count("request.app.state"))
    }
    assert offenders == {}, "read the app's state in a dependency provider (a deps.py), not in a route module"
