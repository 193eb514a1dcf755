"""One dead-letter shape, and the consumer's one decoding point.

The batch consumer decodes each record once; one that is not a valid event of a type the consumer
accepts never reaches the handler: it is dead-lettered (shared/deadletters.py) in the batch's
transaction, and the consumer carries on with the records behind it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, select

from services.processing.refold import _anomaly_record
from shared.consumer import Message, Refused, dead_letter_value, decode
from shared.db import create_schema, make_engine, make_sessionmaker
from shared.event_types import INTAKE_MODELS, Anomaly
from shared.tables import PLUMBING, outbox
from tests.conftest import DATABASE_URL, poll, publish
from tests.shared import consuming
from tests.shared.consuming import ACCEPTS, applied, applied_count, metadata, running_consumer

CODE = "H44.100-260810-0001"
COMMON = {"service", "kind", "reason", "time"}


def event(n: int, type: str = "dossier.supplement_supplied", data: dict | None = None) -> dict:
    return consuming.event(n, CODE, type, data)


STATE = event(
    1,
    "dossier.state",
    {
        "dossier_code": CODE,
        "unit_code": "H44.100",
        "procedure_code": "1.000894",
        "channel": 1,
        "status": 2,
        "revision": 1,
    },
)


def record(value: bytes, offset: int = 0) -> SimpleNamespace:
    return SimpleNamespace(topic="dossier-events", partition=0, offset=offset, key=CODE.encode(), value=value)


def test_a_valid_event_of_a_type_not_accepted_is_refused_naming_it():
    refused = decode(record(json.dumps(STATE).encode()), ACCEPTS, "processing")
    assert isinstance(refused, Refused)
    assert refused.reason == "not accepted: dossier.state v1 is not an event processing consumes"
    accepted = decode(record(json.dumps(event(2)).encode()), ACCEPTS, "processing")
    assert isinstance(accepted, Message)
    assert (accepted.envelope.id, accepted.envelope.data) == ("event-0002", accepted.data)


def test_every_dead_letter_has_the_one_shape():
    consumed = json.loads(dead_letter_value(record(b"\xff not json", offset=7), "invalid event: x", "sync"))
    assert consumed.keys() == COMMON | {"topic", "partition", "offset", "key", "value"}
    assert (consumed["kind"], consumed["offset"], consumed["key"]) == ("unapplied_record", 7, CODE)
    when = datetime(2026, 8, 10, 2, tzinfo=UTC)
    anomaly = json.loads(
        _anomaly_record(
            CODE,
            Anomaly(
                event_id="event-0003",
                type="dossier.processed",
                time=when,
                reason="the dossier has not been received yet",
            ),
        )
    )
    assert anomaly.keys() == COMMON | {"dossier_code", "event_id", "type", "event_time"}
    assert (anomaly["kind"], anomaly["event_time"]) == ("illegal_transition", "2026-08-10T02:00:00Z")
    for letter in (consumed, anomaly):
        assert datetime.fromisoformat(letter["time"]).tzinfo is not None


@pytest.mark.integration
async def test_a_record_of_a_type_not_accepted_is_dead_lettered_and_the_consumer_carries_on(topics, schemas):
    schema = f"{schemas}refused"
    engine = make_engine(DATABASE_URL, schema)
    await create_schema(engine, schema, PLUMBING, metadata)
    sessionmaker = make_sessionmaker(engine)
    handed: list[Message] = []

    async def handle(session, messages):
        handed.extend(messages)
        await session.execute(insert(applied), [{"id": m.envelope.id} for m in messages])
        return []

    async def equals(n: int) -> bool:
        return await applied_count(sessionmaker) == n

    try:
        async with running_consumer(topics, f"{schemas}group", sessionmaker, handle, service="processing") as (
            consumer,
            task,
        ):
            await publish(topics.dossier_events, [event(0), STATE, event(2)])  # one key: one partition, in order

            await poll(lambda: equals(2), 60, "the events around the refused one applied")
            async with sessionmaker() as session:
                letters = (await session.execute(select(outbox.c.topic, outbox.c.key, outbox.c.value))).all()
            assert [m.envelope.id for m in handed] == ["event-0000", "event-0002"]
            assert all(isinstance(m.data, INTAKE_MODELS[(m.envelope.type, m.envelope.version)]) for m in handed)
            assert [(t, k) for t, k, _ in letters] == [(topics.dead_letter, CODE)]
            letter = json.loads(letters[0][2])
            assert letter.keys() == COMMON | {"topic", "partition", "offset", "key", "value"}
            assert (letter["service"], letter["kind"], letter["topic"], letter["offset"], letter["key"]) == (
                "processing",
                "unapplied_record",
                topics.dossier_events,
                1,
                CODE,
            )
            assert letter["reason"] == "not accepted: dossier.state v1 is not an event processing consumes"
            assert json.loads(letter["value"]) == STATE
            assert (consumer.applied, consumer.dead_lettered) == (2, 1)
            assert not task.done(), "the consumer carried on"
    finally:
        await engine.dispose()
