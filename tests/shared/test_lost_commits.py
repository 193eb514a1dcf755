"""A database crash loses the last commits (batches commit without waiting for the WAL flush),
effects and offsets together, while the consumer process keeps running. It must read those
records again from the stored offsets, not carry on from its position in memory.

Found by the chaos test's SIGKILL of PostgreSQL: metrics and the portal missed the last revisions
of ~40 dossiers although every lag was zero. Here the loss is made exact: the effects and offsets
of the applied records are rolled back under the running consumer, as the crash would."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, insert, select, update

from shared.db import create_schema, make_engine, make_sessionmaker
from shared.tables import PLUMBING, consumer_offsets
from tests.conftest import DATABASE_URL, poll, publish
from tests.shared.consuming import applied, applied_count, event, metadata, running_consumer

pytestmark = pytest.mark.integration


def events(start: int, count: int) -> list[dict]:
    return [event(i, "H44.100-260810-0001") for i in range(start, start + count)]


async def test_commits_lost_under_a_running_consumer_are_read_again(topics, schemas):
    schema = f"{schemas}lost"
    engine = make_engine(DATABASE_URL, schema)
    await create_schema(engine, schema, PLUMBING, metadata)
    sessionmaker = make_sessionmaker(engine)

    async def handle(session, messages):
        await session.execute(insert(applied), [{"id": m.envelope.id} for m in messages])
        return []

    async def equals(n: int) -> bool:
        return await applied_count(sessionmaker) == n

    try:
        async with running_consumer(topics, f"{schemas}group", sessionmaker, handle) as (consumer, task):
            await publish(topics.dossier_events, events(0, 10))  # one key: one partition, in order
            await poll(lambda: equals(10), 60, "10 rows applied")
            async with consumer.lock, sessionmaker() as session, session.begin():  # the crash: the last 4 go
                await session.execute(delete(applied).where(applied.c.id >= "event-0006"))
                await session.execute(update(consumer_offsets).values(next_offset=consumer_offsets.c.next_offset - 4))
            await publish(topics.dossier_events, events(10, 5))
            await poll(lambda: equals(15), 60, "the 4 lost rows applied again with the 5 new ones")
            async with sessionmaker() as session:
                ids = sorted((await session.execute(select(applied.c.id))).scalars())
                stored = (await session.execute(select(func.sum(consumer_offsets.c.next_offset)))).scalar()
            assert ids == [e["id"] for e in events(0, 15)] and stored == 15
            assert not task.done(), "the consumer carried on"
    finally:
        await engine.dispose()
