"""A poison message on any consumed topic lands in the dead-letter topic with its reason, and the
consumer carries on with the next message.

Each consuming service runs in this process (its real lifespan) on the shared broker and
database, with this test's own topics and schemas. For each topic it consumes, a handful of
poison records is published, then one good record behind them: the good one must be applied
and every poison one must be dead-lettered, naming its topic, offset and reason.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from services.metrics.app import create_app as metrics_app
from services.metrics.config import MetricsSettings
from services.processing.app import create_app as processing_app
from services.processing.config import ProcessingSettings
from services.sync.app import create_app as sync_app
from services.sync.config import SyncSettings
from shared.event_types import DossierState, SyncOutcome
from shared.events import make_event, serialize
from simulators.counter.events import EventFactory
from tests.conftest import DATABASE_URL, KAFKA, dead_letters, poll

pytestmark = pytest.mark.integration
CODE = "H44.100-260803-0001"
T0 = datetime(2026, 8, 3, 2, tzinfo=UTC)

# (name, key, value): what a broken producer, a tombstone or a hostile client may put on a topic.
POISON = [
    ("not-json", b"garbage", b"\xff\xfe not json at all"),
    ("tombstone", CODE.encode(), None),
    ("json-array", CODE.encode(), b"[1, 2, 3]"),
    ("deeply-nested", CODE.encode(), b"[" * 50_000 + b"]" * 50_000),  # RecursionError, not ValueError
    ("bad-envelope", CODE.encode(), json.dumps({"id": "x", "type": "dossier.state"}).encode()),
    ("no-key", None, b"{}"),
]
# A compacted topic (lifecycle, portal-sync: shared/topics.py) is keyed by dossier: the broker itself
# refuses a record without a key there, so only the keyed poison can reach its consumers.
KEYED_POISON = [p for p in POISON if p[1] is not None]


def state_event(revision: int = 1) -> bytes:
    state = DossierState(
        dossier_code=CODE,
        unit_code="H44.100",
        procedure_code="1.000894",
        channel=2,
        status=2,
        revision=revision,
        received_at=T0,
    )
    return serialize(
        make_event(
            event_id=f"{CODE}:r{revision}", type="dossier.state", source="processing", subject=CODE, time=T0, data=state
        )
    )


def synced_event(revision: int = 1) -> bytes:
    outcome = SyncOutcome(status=2, revision=revision, ok=True)
    return serialize(
        make_event(
            event_id=f"{CODE}:s{revision}", type="dossier.synced", source="sync", subject=CODE, time=T0, data=outcome
        )
    )


def intake_event() -> bytes:
    event = EventFactory("motcua-test").received(CODE, T0, unit="H44.100", procedure="1.000894", channel=2)
    return json.dumps(event).encode()


async def publish(topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, enable_idempotence=True, max_request_size=4 << 20)
    await producer.start()
    try:
        for key, value in records:
            # Same partition for all, so the good record sits behind the poison ones.
            await producer.send(topic, value, key=key, partition=0)
        await producer.flush()
    finally:
        await producer.stop()


async def scalar(db, sql: str):
    async with db.connect() as conn:
        return (await conn.execute(text(sql))).scalar()


async def check_poison_then_good(
    app, topic: str, good: bytes, applied, dead_letter_topic: str, poison: list = POISON
) -> None:
    async with app.router.lifespan_context(app):
        await publish(topic, [(key, value) for _, key, value in poison] + [(CODE.encode(), good)])
        assert await poll(applied), f"the good record behind the poison ones was not applied ({topic})"
        letters = await dead_letters(dead_letter_topic, len(poison))
        ready = app.state.runtime.checks()["workers"]
        await ready()  # the consumer is still alive
    mine = [d for d in letters if d.get("topic") == topic]
    assert sorted(d["offset"] for d in mine) == list(range(len(poison))), mine
    for letter in mine:
        assert letter["reason"], letter
        assert letter["partition"] == 0
    reasons = {poison[d["offset"]][0]: d["reason"] for d in mine}
    assert "recursion" in reasons["deeply-nested"].lower() or "nest" in reasons["deeply-nested"], reasons


def settings_for(cls, topics, schemas: str, service: str, **extra):
    return cls(
        database_url=DATABASE_URL,
        kafka_bootstrap=KAFKA,
        topic_prefix=topics.prefix,
        db_schema=f"{schemas}{service}",
        **extra,
    )


async def test_processing_dead_letters_poison_on_dossier_events(topics, schemas, db):
    app = processing_app(settings_for(ProcessingSettings, topics, schemas, "processing"))

    async def applied():
        return await scalar(db, f"SELECT count(*) FROM \"{schemas}processing\".dossiers WHERE code = '{CODE}'")

    await check_poison_then_good(app, topics.dossier_events, intake_event(), applied, topics.dead_letter)


async def test_sync_dead_letters_poison_on_the_lifecycle_topic(topics, schemas, db):
    # The portal is unreachable: the good record waits in the durable backlog, which is enough.
    app = sync_app(
        settings_for(
            SyncSettings,
            topics,
            schemas,
            "sync",
            portal_url="http://127.0.0.1:9",
            portal_username="u",
            portal_password="p",
        )
    )

    async def applied():
        return await scalar(db, f"SELECT count(*) FROM \"{schemas}sync\".sync_backlog WHERE dossier_code = '{CODE}'")

    await check_poison_then_good(app, topics.lifecycle, state_event(), applied, topics.dead_letter, KEYED_POISON)


@pytest.mark.parametrize("topic", ["lifecycle", "portal_sync"])
async def test_metrics_dead_letters_poison_on_each_topic_it_consumes(topic, topics, schemas, db):
    app = metrics_app(settings_for(MetricsSettings, topics, schemas, "metrics"))
    table, good = {"lifecycle": ("dossier_facts", state_event()), "portal_sync": ("portal_sync_facts", synced_event())}[
        topic
    ]

    async def applied():
        return await scalar(db, f"SELECT count(*) FROM \"{schemas}metrics\".{table} WHERE dossier_code = '{CODE}'")

    await check_poison_then_good(app, getattr(topics, topic), good, applied, topics.dead_letter, KEYED_POISON)
