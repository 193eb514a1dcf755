"""Probes (medium/low): bad input answered 500, or accepted by intake and then dropped by
processing. Every one is now a 4xx naming the field, without echoing the value; a batch keeps its
valid items; what intake accepts, processing applies (one contract: shared/event_types.py)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from simulators.counter.events import EventFactory
from tests.conftest import poll
from tests.intake.harness import client as intake_client
from tests.intake.harness import new_key, received, running_intake
from tests.security.harness import (  # noqa: F401  (fixtures)
    OPERATOR,
    READER,
    bearer,
    client,
    running_metrics,
    running_processing,
    running_sync,
    tokens,
)

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC) - timedelta(hours=1)
F = EventFactory("motcua-test")


def fields(answer) -> list[str]:
    return [e["field"] for e in answer.json()["detail"]]


def bad_events() -> list[tuple[dict, str]]:
    """(event, the field intake must name): each would have been accepted then dropped, or a 500."""
    code = "H44.100-260805-{:04d}"
    year_one = received(code.format(1)) | {"time": "0001-01-01T00:00:00+14:00"}
    too_old = received(code.format(2)) | {"time": "1899-12-31T23:00:00+07:00"}
    far_due = F.event("dossier.extended", code.format(3), NOW, new_due_at="9999-12-31T17:00:00+07:00", reason="x")
    arabic = received("H44.100-٢٦٠٨٠٥-0004", unit="H44.100")
    huge_fee = F.fee_requested(code.format(5), NOW, amount=10**30)
    text_fee = F.fee_requested(code.format(6), NOW, amount="100000")
    bool_fee = F.fee_paid(code.format(7), NOW, amount=True, method=1)
    epoch = received(code.format(8)) | {"time": 1_785_000_000}
    text_channel = received(code.format(9), channel="1")
    text_bool = F.result(code.format(10), NOW, electronic="true", digitized=False)
    return [
        (year_one, "time"),
        (too_old, "time"),
        (far_due, "data.new_due_at"),
        (arabic, "subject"),
        (huge_fee, "data.amount"),
        (text_fee, "data.amount"),
        (bool_fee, "data.amount"),
        (epoch, "time"),
        (text_channel, "data.channel"),
        (text_bool, "data.electronic"),
    ]


async def test_intake_refuses_what_processing_would_drop_naming_the_field(topics, schemas):
    async with running_intake(topics, schemas) as app:
        key = await new_key(app, "simulator", ["H44"])
        async with intake_client(app, key) as c:
            for event, field in bad_events():
                answer = await c.post("/v1/events", json=event)
                assert answer.status_code == 422, (field, answer.text)
                assert field in fields(answer), (field, answer.json())


async def test_a_batch_keeps_its_valid_items_when_one_has_a_year_one_time(topics, schemas):
    async with running_intake(topics, schemas) as app:
        key = await new_key(app, "simulator", ["H44"])
        good = [received("H44.100-260806-0001"), received("H44.100-260806-0002")]
        bad = received("H44.100-260806-0003") | {"time": "0001-01-01T00:00:00+14:00"}
        async with intake_client(app, key) as c:
            answer = await c.post("/v1/events/batch", json=[good[0], bad, good[1]])
        assert answer.status_code == 207
        assert [r["status"] for r in answer.json()["results"]] == ["accepted", "rejected", "accepted"]


async def test_what_intake_accepts_at_the_edges_processing_applies(topics, schemas, tokens):  # noqa: F811
    """The oldest and furthest times the contract admits reach the dossier's state (no dead letter)."""
    old, late = "H44.100-000103-0001", "H44.100-260807-0001"
    events = [
        F.received(old, datetime(1900, 1, 2, 8, tzinfo=UTC), unit="H44.100", procedure="1.000894", channel=1),
        F.received(late, NOW, unit="H44.100", procedure="1.000894", channel=1),
        F.event(
            "dossier.extended",
            late,
            NOW + timedelta(minutes=1),
            new_due_at="2100-12-31T17:00:00+07:00",
            reason="Gia hạn",
        ),
        F.fee_requested(late, NOW + timedelta(minutes=2), amount=10**12),
    ]
    async with running_intake(topics, schemas) as intake, running_processing(topics, schemas) as processing:
        key = await new_key(intake, "simulator", ["H44"])
        async with intake_client(intake, key) as c:
            assert (await c.post("/v1/events/batch", json=events)).status_code == 200
        async with client(processing, **bearer(READER)) as c:

            async def applied():
                states = [(await c.get(f"/v1/dossiers/{code}")).json() for code in (old, late)]
                # The posted events (the 1900 dossier's long-passed deadline is recorded beside them).
                counts = [sum(e["type"] != "dossier.deadline_passed" for e in s.get("events", [])) for s in states]
                return states if counts == [1, 3] else None

            states = await poll(applied, 60, "processing did not apply every accepted event")
        assert states[0]["state"]["overdue"] is True and states[1]["state"]["overdue"] is False
        # An extension is the citizen's new appointment; the dossier is still judged by its due date.
        assert states[1]["state"]["appointment_at"].startswith("2100-12-31")


async def test_a_province_wide_key_cannot_count_a_dossier_for_another_unit(topics, schemas):
    async with running_intake(topics, schemas) as app:
        key = await new_key(app, "simulator", ["H44"])
        async with intake_client(app, key) as c:
            answer = await c.post("/v1/events", json=received("H44.100-260808-0001", unit="H44.07"))
            assert answer.status_code == 422 and fields(answer) == ["data.unit_code"]
            # The source is the key's, whatever was posted: a counter cannot speak as the document system.
            posted = received("H44.100-260808-0002") | {"source": "document-system"}
            assert (await c.post("/v1/events", json=posted)).status_code == 201
        async with app.state.runtime.sessionmaker() as session:
            from sqlalchemy import select

            from services.intake.models import AcceptedEvent

            sources = set((await session.execute(select(AcceptedEvent.source))).scalars())
        assert sources == {"simulator"}


async def test_metrics_periods_out_of_range_are_422_naming_the_field(topics, schemas):
    async with running_metrics(topics, schemas) as app, client(app) as c:
        for params, field in (
            ({"period": "0001"}, "period"),
            ({"period": "0001-01"}, "period"),
            ({"period": "2026-13"}, "period"),
            ({"period": "٢٠٢٦"}, "period"),
            ({"from": "0001-01-01", "to": "0001-01-31"}, "from"),
            ({"from": "2026-01-01"}, "from"),
        ):
            for path in ("/v1/indicators", "/v1/trend", "/v1/targets", "/v1/report.csv"):
                answer = await c.get(path, params=params)
                assert answer.status_code == 422, (path, params, answer.text)
                assert fields(answer) == [field]


async def test_sync_limits_out_of_range_are_422(topics, schemas, tokens):  # noqa: F811
    async with running_sync(topics, schemas) as app, client(app, **bearer(READER)) as c:
        for path in ("/v1/sync/failures", "/v1/documents", "/v1/documents/failures", "/v1/documents/rejections"):
            for limit in ("-1", "0", str(10**20), "1e3"):
                answer = await c.get(path, params={"limit": limit})
                assert answer.status_code == 422 and fields(answer) == ["limit"], (path, limit, answer.text)


async def test_processing_refuses_a_nul_in_a_dossier_code(topics, schemas, tokens):  # noqa: F811
    async with running_processing(topics, schemas) as app, client(app, **bearer(READER)) as c:
        assert (await c.get("/v1/dossiers/H44.100-260801-0001%00")).status_code == 422
        assert (await c.get("/v1/dossiers/%00")).status_code == 422
        answer = await c.get("/v1/anomalies", params={"dossier": "H44.100\x00"})
        assert answer.status_code == 422 and fields(answer) == ["dossier"]


async def test_validation_errors_name_fields_without_echoing_values_and_are_capped(topics, schemas, tokens):  # noqa: F811
    async with running_processing(topics, schemas) as app, client(app, **bearer(OPERATOR)) as c:
        procedure = (await c.get("/v1/procedures")).json()[0]
        applicant = {"id_number": "001012345645", "name": "Nguyễn Văn A"}
        secret = copy.deepcopy(procedure) | {"name": 1, "applicant": applicant}
        answer = await c.put(f"/v1/procedures/{procedure['code']}", json=secret)
        assert answer.status_code == 422 and "name" in fields(answer)
        assert "001012345645" not in answer.text and "Nguy" not in answer.text and '"input"' not in answer.text
        flood = procedure | {f"k{i}": i for i in range(50_000)}
        answer = await c.put(f"/v1/procedures/{procedure['code']}", json=flood)
        assert answer.status_code == 422 and len(answer.content) < 10_000
        assert answer.json()["detail"][-1]["message"].endswith("more errors not listed")


async def test_intake_caps_the_errors_of_an_event_with_50000_unknown_keys(topics, schemas):
    async with running_intake(topics, schemas) as app:
        key = await new_key(app, "simulator", ["H44"])
        event = received("H44.100-260809-0001")
        event["data"] |= {f"k{i}": i for i in range(50_000)}
        async with intake_client(app, key) as c:
            answer = await c.post("/v1/events", json=event)
        assert answer.status_code == 422 and len(answer.content) < 10_000


async def test_sync_refuses_malformed_dossier_codes_in_requeue_and_resend(topics, schemas, tokens):  # noqa: F811
    """Found by the fuzzer: a NUL in a code of a requeue list reached PostgreSQL (500)."""
    async with running_sync(topics, schemas) as app, client(app, **bearer(OPERATOR)) as c:
        for path in ("/v1/sync/requeue", "/v1/documents/requeue", "/v1/documents/resend"):
            answer = await c.post(path, json={"dossier_codes": ["H44.100-260801-0001", "Q\x00"]})
            assert answer.status_code == 422 and fields(answer) == ["dossier_codes.1"], (path, answer.text)
