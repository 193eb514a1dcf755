"""Processing on the real broker: the overdue timer fires live; illegal transitions are reported."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from services.processing.app import create_app
from services.processing.config import ProcessingSettings
from simulators.counter.events import EventFactory
from tests.conftest import DATABASE_URL, KAFKA, dead_letters, poll, publish

pytestmark = pytest.mark.integration
CODE = "H44.100-261125-0001"


async def test_overdue_timer_fires_live_and_illegal_events_are_reported(topics, schemas, db, monkeypatch):
    monkeypatch.setenv("READER_TOKEN_SHA256", hashlib.sha256(b"reader-test-token").hexdigest())
    now = datetime.now(UTC)
    f = EventFactory("motcua-test")
    stray = f.supplement_supplied(CODE, now - timedelta(minutes=20))  # nothing was requested
    events = [
        f.received(CODE, now - timedelta(hours=1), unit="H44.100", procedure="1.000894", channel=1),
        f.event(
            "dossier.extended",
            CODE,
            now - timedelta(minutes=30),
            new_due_at=(now + timedelta(seconds=2)).isoformat(),
            reason="Thư xin lỗi",
        ),
        stray,
    ]
    # The portal's mechanical rule, so that the extension's date (2 s ahead) is the deadline the timer
    # watches; under the default rule an extension never moves it (tests/processing/test_lifecycle.py).
    settings = ProcessingSettings(
        database_url=DATABASE_URL,
        kafka_bootstrap=KAFKA,
        topic_prefix=topics.prefix,
        db_schema=f"{schemas}processing",
        extension_moves_due_date=True,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await publish(topics.dossier_events, events)

        async def state():
            async with db.connect() as conn:
                row = await conn.execute(text(f'SELECT state FROM "{schemas}processing".dossiers'))
                return row.scalar()

        first = await poll(state)
        assert first["overdue"] is False and first["on_time"] is None  # the deadline is 2 s ahead
        overdue = await poll(lambda: _overdue(state))
        assert datetime.fromisoformat(overdue["deadline_at"]) <= datetime.now(UTC)

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://processing", headers={"Authorization": "Bearer reader-test-token"}
        ) as client:
            anomalies = (await client.get("/v1/anomalies", params={"dossier": CODE})).json()
            dossier = (await client.get(f"/v1/dossiers/{CODE}")).json()
    assert [(a["event_id"], a["reason"]) for a in anomalies] == [(stray["id"], "no supplementation request is pending")]
    assert dossier["state"]["overdue"] is True
    assert [e["type"] for e in dossier["events"]][-1] == "dossier.deadline_passed"
    letters = await dead_letters(topics.dead_letter, expected=1)
    assert [(d["kind"], d["event_id"]) for d in letters] == [("illegal_transition", stray["id"])]


async def _two(codes):
    found = await codes()
    return found if len(found) == 2 else None


async def _overdue(state):
    current = await state()
    return current if current and current["overdue"] else None


async def test_a_poison_message_is_dead_lettered_and_the_consumer_carries_on(topics, schemas, db):
    from aiokafka import AIOKafkaProducer

    f = EventFactory("motcua-test")
    good = f.received(CODE, datetime.now(UTC) - timedelta(hours=1), unit="H44.100", procedure="1.000894", channel=2)
    unknown_procedure = f.received(
        "H44.100-261125-0002", datetime.now(UTC), unit="H44.100", procedure="9.999999", channel=1
    )
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA)
    await producer.start()
    try:
        await producer.send_and_wait(topics.dossier_events, b"\xff not json", key=CODE.encode())
    finally:
        await producer.stop()
    await publish(topics.dossier_events, [unknown_procedure, good])
    settings = ProcessingSettings(
        database_url=DATABASE_URL, kafka_bootstrap=KAFKA, topic_prefix=topics.prefix, db_schema=f"{schemas}processing"
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):

        async def dossier_codes():
            async with db.connect() as conn:
                rows = await conn.execute(text(f'SELECT code FROM "{schemas}processing".dossiers'))
                return [r.code for r in rows]

        # The dossier of an unknown procedure is held (pending catalog), not dropped.
        assert sorted(await poll(lambda: _two(dossier_codes))) == [CODE, "H44.100-261125-0002"]
    letters = await dead_letters(topics.dead_letter, expected=1)
    # The relay publishes at least once: a letter may repeat, but it names the same source offset.
    reasons = sorted({(d["offset"], d["reason"]) for d in letters})
    assert [r for _, r in reasons] == ["invalid event: (body): not JSON: expected value at line 1 column 1"]
    assert all(d["service"] == "processing" and d["topic"] == topics.dossier_events for d in letters)


async def test_a_catalog_change_applies_to_the_next_events(topics, schemas, db, monkeypatch):
    """processing caches the validated catalog; a PUT (from any replica) must reach the next fold."""
    operator = "operator-test-token"
    monkeypatch.setenv("READER_OPERATOR_TOKEN_SHA256", hashlib.sha256(operator.encode()).hexdigest())
    f = EventFactory("motcua-test")
    now = datetime.now(UTC)
    settings = ProcessingSettings(
        database_url=DATABASE_URL, kafka_bootstrap=KAFKA, topic_prefix=topics.prefix, db_schema=f"{schemas}processing"
    )
    app = create_app(settings)

    async def procedure_name(code):
        async with db.connect() as conn:
            row = await conn.execute(
                text(f'SELECT state FROM "{schemas}processing".dossiers WHERE code = :c'), {"c": code}
            )
            state = row.scalar()
        return state and state["procedure"]["name"]

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        first, second = "H44.100-261125-0101", "H44.100-261125-0102"
        await publish(topics.dossier_events, [f.received(first, now, unit="H44.100", procedure="1.000894", channel=2)])
        original = await poll(lambda: procedure_name(first), what="the first dossier")
        procedure = next(p for p in (await client.get("/v1/procedures")).json() if p["code"] == "1.000894")
        changed = await client.put(
            "/v1/procedures/1.000894",
            json=procedure | {"name": "Tên đã đổi"},
            headers={"Authorization": f"Bearer {operator}"},
        )
        assert changed.status_code == 200
        await publish(topics.dossier_events, [f.received(second, now, unit="H44.100", procedure="1.000894", channel=2)])
        assert await poll(lambda: procedure_name(second), what="the second dossier") == "Tên đã đổi"
        assert original != "Tên đã đổi"


async def test_held_dossiers_are_listed_and_judged_when_an_operator_teaches_the_catalog(
    topics, schemas, db, monkeypatch
):
    """Through the API: the pending list (reader token), an import (operator token) that releases a
    held dossier, and a PUT that releases another."""
    from pathlib import Path

    operator, reader = "operator-test-token", "reader-test-token"
    monkeypatch.setenv("READER_OPERATOR_TOKEN_SHA256", hashlib.sha256(operator.encode()).hexdigest())
    monkeypatch.setenv("READER_TOKEN_SHA256", hashlib.sha256(reader.encode()).hexdigest())
    f = EventFactory("motcua-test")
    now = datetime.now(UTC)
    imported, put = "H44.100-261125-0201", "H44.100-261125-0202"
    settings = ProcessingSettings(
        database_url=DATABASE_URL, kafka_bootstrap=KAFKA, topic_prefix=topics.prefix, db_schema=f"{schemas}processing"
    )
    app = create_app(settings)

    async def pending(code):
        async with db.connect() as conn:
            row = await conn.execute(
                text(f'SELECT state FROM "{schemas}processing".dossiers WHERE code = :c'), {"c": code}
            )
            state = row.scalar()
        return state and state.get("pending_catalog", [])

    async def judged(code):
        return (await pending(code)) == []

    fixture = Path(__file__).parents[1] / "fixtures" / "catalog" / "phu-tho-procedures.csv"
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        await publish(
            topics.dossier_events,
            [
                f.received(imported, now, unit="H44.100", procedure="2.005195", channel=2),  # in the fixture
                f.received(put, now, unit="H44.100", procedure="1.999999", channel=1),
            ],
        )
        assert await poll(lambda: pending(imported)) == ["procedure:2.005195"]
        assert await poll(lambda: pending(put)) == ["procedure:1.999999"]
        assert (await client.get("/v1/pending-catalog")).status_code == 401
        listed = (await client.get("/v1/pending-catalog", headers={"Authorization": f"Bearer {reader}"})).json()
        assert sorted((p["code"], p["dossiers"]) for p in listed) == [("1.999999", 1), ("2.005195", 1)]

        as_operator = {"Authorization": f"Bearer {operator}"}
        body = fixture.read_bytes()
        assert (await client.post("/v1/procedures/import", params={"format": "csv"}, content=body)).status_code == 401
        bad = await client.post(
            "/v1/procedures/import",
            params={"format": "csv"},
            headers=as_operator,
            content=body.replace("Ngày làm việc".encode(), b"Tuan", 1),
        )
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "limit_unit"
        report = (
            await client.post("/v1/procedures/import", params={"format": "csv"}, headers=as_operator, content=body)
        ).json()
        assert len(report["added"]) == 382 and report["released"] == {"procedure:2.005195": 1}
        assert await poll(lambda: judged(imported))

        template = next(p for p in (await client.get("/v1/procedures")).json() if p["code"] == "1.000894")
        created = await client.put(
            "/v1/procedures/1.999999", headers=as_operator, json=template | {"code": "1.999999", "name": "Thủ tục mới"}
        )
        assert created.status_code == 200
        assert await poll(lambda: judged(put))
