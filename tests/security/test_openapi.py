"""The OpenAPI documents the fuzzer works from: intake's bodies typed per event type and version
(so generated events reach the validators), and 422s declared as they are answered."""

from __future__ import annotations

from services.intake.app import create_app
from services.intake.config import IntakeSettings
from services.processing.app import create_app as create_processing
from shared.event_types import INTAKE_MODELS


def test_intakes_document_types_each_event_and_version():
    document = create_app(IntakeSettings(applicant_id_key="k")).openapi()
    body = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schemas = document["components"]["schemas"]
    declared = {
        (
            schemas[ref["$ref"].rsplit("/", 1)[1]]["properties"]["type"]["const"],
            schemas[ref["$ref"].rsplit("/", 1)[1]]["properties"]["version"]["const"],
        )
        for ref in body["anyOf"]
    }
    assert declared == {k for k in INTAKE_MODELS if k[0] != "dossier.document_status"}
    received = schemas["ReceivedPosted"]["properties"]
    assert received["applicant"]["anyOf"][0]["$ref"].endswith("/ApplicantIn")  # the clear number, as posted
    batch = document["paths"]["/v1/events/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert batch["items"] == body and batch["maxItems"] == 1000


def test_validation_errors_are_declared_as_answered():
    document = create_processing().openapi()
    detail = document["components"]["schemas"]["HTTPValidationError"]["properties"]["detail"]["anyOf"][0]["items"]
    assert set(detail["properties"]) == {"field", "message"}  # never the input
