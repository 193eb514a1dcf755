"""No silent gaps: records deleted past a stopped consumer's stored offset pause the partition and
are reported (/ready, metric, log) until an operator replays or skips them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from sqlalchemy import text

from deploy import offsets
from services.processing.app import create_app
from services.processing.config import ProcessingSettings
from shared.consumer import OFFSET_GAP, OffsetGap
from shared.db import make_engine, make_sessionmaker
from shared.kafka import make_producer
from shared.migrations import prepare_schema
from shared.outbox import OutboxRelay
from shared.topics import Topics, ensure_topics
from simulators.counter.events import EventFactory
from tests.conftest import DATABASE_URL, KAFKA, poll

pytestmark = pytest.mark.integration
T0 = datetime(2026, 8, 3, 2, tzinfo=UTC)
CODES = [f"H44.100-260803-000{i}" for i in range(1, 7)]


@pytest.fixture
async def one_partition(run_id):
    """This test's topics with one partition, so the deleted records are known by offset."""
    topics = Topics(f"{run_id}.")
    await ensure_topics(KAFKA, topics, partitions=1)
    yield topics
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await admin.delete_topics(topics.all())
    finally:
        await admin.close()


def received(code: str) -> dict:
    return EventFactory("motcua-test").received(code, T0, unit="H44.100", procedure="1.000894", channel=2)


async def post(topic: str, events: list[dict]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, enable_idempotence=True)
    await producer.start()
    try:
        for e in events:
            await producer.send_and_wait(topic, json.dumps(e).encode(), key=e["subject"].encode())
    finally:
        await producer.stop()


async def dossiers(db, schemas: str) -> set[str]:
    async with db.connect() as conn:
        return set((await conn.execute(text(f'SELECT code FROM "{schemas}processing".dossiers'))).scalars())


async def stored_offset(db, schemas: str) -> int:
    async with db.connect() as conn:
        return (await conn.execute(text(f'SELECT next_offset FROM "{schemas}processing".consumer_offsets'))).scalar()


async def put_in_intake(schemas: str, events: list[dict]) -> None:
    """What intake would hold for these events (the replay's source)."""
    engine = make_engine(DATABASE_URL, f"{schemas}intake", pool_size=1)
    try:
        await prepare_schema(engine, f"{schemas}intake", "intake")
        async with engine.begin() as conn:
            for e in events:
                await conn.execute(
                    text(
                        "INSERT INTO accepted_events (id, type, subject, source, time, digest, body) "
                        "VALUES (:id, :type, :subject, :source, :time, 'x', CAST(:body AS json))"
                    ),
                    {
                        "id": e["id"],
                        "type": e["type"],
                        "subject": e["subject"],
                        "source": e["source"],
                        "time": T0,
                        "body": json.dumps(e),
                    },
                )
    finally:
        await engine.dispose()


async def relay_intake_outbox(schemas: str) -> int:
    """Publish intake's outbox once, as intake's relay does when it runs."""
    engine = make_engine(DATABASE_URL, f"{schemas}intake", pool_size=1)
    producer = make_producer(KAFKA)
    await producer.start()
    try:
        return await OutboxRelay(make_sessionmaker(engine), producer).publish_once()
    finally:
        await producer.stop()
        await engine.dispose()


@pytest.mark.parametrize("decision", ["skip", "replay"])
async def test_a_gap_pauses_the_partition_until_an_operator_decides(decision, one_partition, schemas, db, capsys):
    topics = one_partition
    events = [received(code) for code in CODES]
    settings = ProcessingSettings(
        database_url=DATABASE_URL, kafka_bootstrap=KAFKA, topic_prefix=topics.prefix, db_schema=f"{schemas}processing"
    )
    app = create_app(settings)
    await post(topics.dossier_events, events[:2])  # offsets 0, 1
    async with app.router.lifespan_context(app):
        await poll(lambda: _has(db, schemas, CODES[:2]), what="the first two dossiers")
    assert await stored_offset(db, schemas) == 2

    # While processing is stopped: four more records (offsets 2-5), then the first two of them
    # are deleted (as retention or an operator's delete would), past the stored offset.
    await post(topics.dossier_events, events[2:])
    tp = TopicPartition(topics.dossier_events, 0)
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await admin.delete_records({tp: RecordsToDelete(before_offset=4)})
    finally:
        await admin.close()

    async with app.router.lifespan_context(app):
        ready = app.state.runtime.checks()["offsets"]

        async def reported() -> bool:
            try:
                await ready()
                return False
            except OffsetGap as gap:
                return f"{topics.dossier_events}/0 stored 2 < log start 4" in str(gap)

        await poll(reported, what="the gap in /ready")
        assert OFFSET_GAP.labels("processing", topics.dossier_events, "0")._value.get() == 2
        # The services log JSON lines to stderr (shared/observability.py).
        assert f"offset gap on {topics.dossier_events}/0" in capsys.readouterr().err
        # Nothing skipped: the records after the gap wait too.
        assert await stored_offset(db, schemas) == 2
        assert await dossiers(db, schemas) == set(CODES[:2])
        state = next(s for s in await offsets.status(settings, "processing") if s.partition == 0)
        assert (state.stored, state.log_start, state.gap) == (2, 4, 2)

        if decision == "skip":
            assert await offsets.skip(settings, "processing", "dossier-events", 0, "test: records lost") == 2
            expected = set(CODES[:2] + CODES[4:])  # the two deleted dossiers are given up, knowingly
        else:
            await put_in_intake(schemas, events)
            assert await offsets.replay(settings, "processing", "dossier-events", 0, "test: from intake") == 6
            published = []

            async def relayed() -> bool:
                published.append(await relay_intake_outbox(schemas))
                return sum(published) == 6

            await poll(relayed, what="intake's outbox published")
            expected = set(CODES)  # every dossier, the deleted ones from intake's table
        await poll(lambda: _is(db, schemas, expected), what="the partition resumed")
        await ready()
        assert OFFSET_GAP.labels("processing", topics.dossier_events, "0")._value.get() == 0
    assert await dossiers(db, schemas) == expected


async def _has(db, schemas, codes) -> bool:
    return set(codes) <= await dossiers(db, schemas)


async def _is(db, schemas, codes) -> bool:
    return set(codes) == await dossiers(db, schemas)


async def test_a_log_shorter_than_the_stored_offset_pauses_too(one_partition, schemas, db):
    """The topic was recreated (or the broker lost records): new records would reuse offsets the
    service already stored, and be skipped; the partition waits for an operator instead."""
    topics = one_partition
    settings = ProcessingSettings(
        database_url=DATABASE_URL, kafka_bootstrap=KAFKA, topic_prefix=topics.prefix, db_schema=f"{schemas}processing"
    )
    app = create_app(settings)
    await post(topics.dossier_events, [received(code) for code in CODES[:2]])
    async with app.router.lifespan_context(app):
        await poll(lambda: _has(db, schemas, CODES[:2]), what="the first two dossiers")

    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await admin.delete_topics([topics.dossier_events])

        async def gone() -> bool:
            return topics.dossier_events not in await admin.list_topics()

        await poll(gone, what="the topic deleted")
    finally:
        await admin.close()
    await poll(lambda: _recreated(topics), what="the topic created again")
    await post(topics.dossier_events, [received(CODES[2])])  # offset 0 of the new log

    async with app.router.lifespan_context(app):
        ready = app.state.runtime.checks()["offsets"]

        async def reported() -> bool:
            try:
                await ready()
                return False
            except OffsetGap as gap:
                return f"{topics.dossier_events}/0 stored 2 > log end 1" in str(gap)

        await poll(reported, what="the short log in /ready")
        assert await dossiers(db, schemas) == set(CODES[:2])
        assert await offsets.skip(settings, "processing", "dossier-events", 0, "test: topic recreated") == 1
        await poll(lambda: _is(db, schemas, CODES[:3]), what="the new record applied")
        await ready()


async def _recreated(topics: Topics) -> bool:
    try:
        return await ensure_topics(KAFKA, topics, partitions=1) == []
    except Exception:  # still being deleted
        return False
