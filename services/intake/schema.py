"""The request bodies intake's OpenAPI document declares: one schema per event type and version
(each with its `type` and `version` as constants), so that clients and the fuzzer see what each
event must hold. (Not a discriminated union: a type may have several versions.)

The routes themselves take the body as JSON and validate each event on their own (shared/events.py):
a batch is judged item by item, and an invalid item must not fail the whole request. The schemas
here are the same contract, as counters post it (the applicant's clear identity number, which
intake pseudonymizes, in place of the published pseudonym).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal, Union

from pydantic import Field, TypeAdapter, create_model

from services.intake.handlers import NOT_FROM_COUNTERS
from services.intake.pii import WITH_APPLICANT, ApplicantIn
from shared.event_types import INTAKE_MODELS
from shared.events import Envelope

REF = "#/components/schemas/{model}"


def _event_model(type_: str, version: int, data: type) -> type:
    name = "".join(part.title() for part in type_.removeprefix("dossier.").split("_"))
    name += "" if version == 1 else f"V{version}"
    if type_ in WITH_APPLICANT:  # as posted: the clear number, replaced by intake
        data = create_model(
            f"{data.__name__}Posted", __base__=data, applicant=(ApplicantIn | None, Field(default=None))
        )
    fields: dict[str, Any] = {
        "type": (Literal[type_], ...),
        "version": (Literal[version], version),
        "data": (data, ...),
    }
    return create_model(f"{name}Event", __base__=Envelope, **fields)


@cache
def event_schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    """(the schema of one event, the component schemas it refers to)."""
    models = tuple(_event_model(t, v, data) for (t, v), data in INTAKE_MODELS.items() if t not in NOT_FROM_COUNTERS)
    union: Any = Union[models]  # noqa: UP007 (a tuple built at run time)
    schema = TypeAdapter(union).json_schema(ref_template=REF)
    return {k: v for k, v in schema.items() if k != "$defs"}, schema.get("$defs", {})


def type_bodies(openapi: dict[str, Any], max_batch: int) -> dict[str, Any]:
    """Declare the typed bodies of POST /v1/events and /v1/events/batch in the document."""
    event, defs = event_schemas()
    openapi.setdefault("components", {}).setdefault("schemas", {}).update(defs)
    paths = openapi.get("paths", {})
    bodies = {
        "/v1/events": event,
        "/v1/events/batch": {"type": "array", "items": event, "minItems": 1, "maxItems": max_batch},
    }
    for path, schema in bodies.items():
        content = paths.get(path, {}).get("post", {}).get("requestBody", {}).get("content", {})
        if "application/json" in content:
            content["application/json"]["schema"] = schema
    return openapi
