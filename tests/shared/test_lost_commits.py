"""A database crash loses the last commits (batches commit without waiting for the WAL flush),
effects and offsets together, while the consumer process keeps running. It must read those
records again from the stored offsets, not carry on from its position in memory.

Found by the chaos test's SIGKILL of PostgreSQL: metrics and the portal missed the last revisions
of ~40 dossiers although every lag was zero. Here the loss is made exact: the effects and offsets
of the applied records are rolled back under the running consumer, as the crash would."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import Column, MetaData, String, Table, delete, func, insert, select, update

from shared.consumer import BatchConsumer
from shared.db import create_schema, make_engine, make_sessionmaker
from shared.event_types import INTAKE_MODELS
from shared.tables import PLUMBING, consumer_offsets
from tests.conftest import DATABASE_URL, KAFKA, poll, publish

pytestmark = pytest.mark.integration
metadata = MetaData()
ACCEPTS = frozenset(INTAKE_MODELS)
applied = Table("applied", metadata, Column("id", String, primary_key=True))


def events(start: int, count: int) -> list[dict]:
    return [
        {
            "id": f"event-{i:04d}",
            "type": "dossier.supplement_supplied",
            "version": 1,
            "source": "test",
            "subject": "H44.100-260810-0001",
            "time": "2026-08-10T09:00:00+07:00",
            "data": {},
        }
        for i in range(start, start + count)
    ]


async def test_commits_lost_under_a_running_consumer_are_read_again(topics, schemas):
    schema = f"{schemas}lost"
    engine = make_engine(DATABASE_URL, schema)
    await create_schema(engine, schema, PLUMBING, metadata)
    sessionmaker = make_sessionmaker(engine)

    async def handle(session, messages):
        await session.execute(insert(applied), [{"id": m.envelope.id} for m in messages])
        return []

    async def count() -> int:
        async with sessionmaker() as session:
            return (await session.execute(select(func.count()).select_from(applied))).scalar()

    kafka = AIOKafkaConsumer(
        bootstrap_servers=KAFKA, group_id=f"{schemas}group", enable_auto_commit=False, auto_offset_reset="earliest"
    )
    consumer = BatchConsumer(
        consumer=kafka,
        topics=[topics.dossier_events],
        group=f"{schemas}group",
        sessionmaker=sessionmaker,
        handle=handle,
        accepts=ACCEPTS,
        dead_letter_topic=topics.dead_letter,
        service="test",
    )
    consumer.subscribe()
    await kafka.start()
    task = asyncio.create_task(consumer.run())
    try:
        await publish(topics.dossier_events, events(0, 10))  # one key: one partition, in order
        await poll(lambda: _equals(count, 10), 60, "10 rows applied")
        async with consumer.lock, sessionmaker() as session, session.begin():  # the crash: the last 4 go
            await session.execute(delete(applied).where(applied.c.id >= "event-0006"))
            await session.execute(update(consumer_offsets).values(next_offset=consumer_offsets.c.next_offset - 4))
        await publish(topics.dossier_events, events(10, 5))
        await poll(lambda: _equals(count, 15), 60, "the 4 lost rows applied again with the 5 new ones")
        async with sessionmaker() as session:
            ids = sorted((await session.execute(select(applied.c.id))).scalars())
            stored = (await session.execute(select(func.sum(consumer_offsets.c.next_offset)))).scalar()
        assert ids == [e["id"] for e in events(0, 15)] and stored == 15
        assert not task.done(), "the consumer carried on"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await kafka.stop()
        await engine.dispose()


async def _equals(count, n: int) -> bool:
    return await count() == n
