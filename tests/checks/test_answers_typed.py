"""Every answer intake and sync give is typed: each 2xx response in their OpenAPI documents has a
schema, so the clients (dashboards, the fuzzer, other services) see what they get."""

from __future__ import annotations

from typing import Any

import pytest

from services.intake.app import create_app as create_intake
from services.intake.config import IntakeSettings
from services.sync.app import create_app as create_sync
from services.sync.config import SyncSettings


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


@pytest.mark.parametrize("document", [
    pytest.param(lambda: create_intake(IntakeSettings(applicant_id_key="k")).openapi(), id="intake"),
    pytest.param(lambda: create_sync(SyncSettings(portal_username="u", portal_password="p")).openapi(), id="sync"),
])
def test_every_answer_declares_its_schema(document):
    doc = document()
    assert len(doc["paths"]) >= 4  # the walk saw the routes
    assert untyped_answers(doc) == []


def test_an_untyped_answer_is_found():
    def answers(schema: dict[str, Any]) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": schema}}}

    document = {"paths": {"/v1/x": {"get": {"responses": {
        "200": answers({}),
        "201": {"description": "no content at all"},
        "202": answers({"type": "array", "items": {"type": "object", "additionalProperties": True}}),
        "203": answers({"type": "object", "additionalProperties": {"type": "integer"}}),
        "206": answers({"type": "array", "items": {"$ref": "#/components/schemas/Failure"}}),
        "404": {"description": "not typed, and not an answer"}}}}}}
    assert untyped_answers(document) == ["GET /v1/x 200", "GET /v1/x 201", "GET /v1/x 202"]
