"""Every answer of the four services is typed: each 2xx response in their OpenAPI documents has a
schema, so the clients (dashboards, the fuzzer, other services) see what they get. A route left
out of the document escapes that check: it must declare its response model all the same, unless
it is one of the named routes that answer no JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import TypeAdapter

from services.intake.app import create_app as create_intake
from services.intake.config import IntakeSettings
from services.metrics.app import create_app as create_metrics
from services.processing.app import create_app as create_processing
from services.sync.app import create_app as create_sync
from services.sync.config import SyncSettings

# Each service's app as its factory builds it (nothing starts: the lifespan runs only when served).
APPS: dict[str, Callable[[], FastAPI]] = {
    "intake": lambda: create_intake(IntakeSettings(applicant_id_key="k")),
    "processing": create_processing,
    "sync": lambda: create_sync(SyncSettings(portal_username="u", portal_password="p")),
    "metrics": create_metrics,
}
# Routes deliberately not in the OpenAPI documents that answer no JSON: Prometheus' text format
# (every service) and metrics' HTML dashboard.
NOT_JSON = {"GET /metrics", "GET /"}


def api_routes(app: FastAPI) -> list[RouteContext]:
    """Every route of the app with its full path, through the included routers (as the OpenAPI
    document is built)."""
    return [r for r in iter_route_contexts(app.routes) if isinstance(r.original_route, APIRoute)]


def describes(schema: dict[str, Any]) -> bool:
    """Whether a schema says what the answer holds: `{}`, a bare object (what `-> dict` gives) or a
    list of those says nothing."""
    if "$ref" in schema:
        return True
    if alternatives := schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf"):
        return all(describes(a) for a in alternatives if a.get("type") != "null")
    if schema.get("type") == "array":
        return describes(schema.get("items") or {})
    if schema.get("type") == "object":
        values = schema.get("additionalProperties")
        return bool(schema.get("properties")) or (isinstance(values, dict) and describes(values))
    return "type" in schema or "const" in schema or "enum" in schema


def untyped_answers(document: dict[str, Any]) -> list[str]:
    """`METHOD path status` of each 2xx answer whose schema is missing or says nothing."""
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith("2") or status == "204":  # 204: no content, by definition
                    continue
                content = response.get("content") or {"": {}}
                if not all(describes(media.get("schema") or {}) for media in content.values()):
                    found.append(f"{method.upper()} {path} {status}")
    return found


@pytest.mark.parametrize("service", APPS)
def test_every_answer_declares_its_schema(service):
    doc = APPS[service]().openapi()
    assert len(doc["paths"]) >= 4  # the walk saw the routes
    assert untyped_answers(doc) == []


@pytest.mark.parametrize("service", APPS)
def test_undocumented_routes_are_typed_too(service):
    """E.g. intake's service-to-service applicants read, kept out of the public document."""
    app = APPS[service]()
    documented = {
        f"{method.upper()} {path}" for path, operations in app.openapi()["paths"].items() for method in operations
    }
    routes = {f"{method} {route.path}": route for route in api_routes(app) for method in route.methods or ()}
    assert len(routes) >= 4  # the walk saw the routes
    untyped = {
        name
        for name, route in routes.items()
        if name not in documented
        and ((model := route.original_route.response_model) is None or not describes(TypeAdapter(model).json_schema()))
    }
    assert untyped <= NOT_JSON


def test_an_untyped_answer_is_found():
    def answers(schema: dict[str, Any]) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": schema}}}

    document = {
        "paths": {
            "/v1/x": {
                "get": {
                    "responses": {
                        "200": answers({}),
                        "201": {"description": "no content at all"},
                        "202": answers({"type": "array", "items": {"type": "object", "additionalProperties": True}}),
                        "203": answers({"type": "object", "additionalProperties": {"type": "integer"}}),
                        "206": answers({"type": "array", "items": {"$ref": "#/components/schemas/Failure"}}),
                        "404": {"description": "not typed, and not an answer"},
                    }
                }
            }
        }
    }
    assert untyped_answers(document) == ["GET /v1/x 200", "GET /v1/x 201", "GET /v1/x 202"]
