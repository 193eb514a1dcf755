"""Offsets are stored with the effects, on the real broker and database.

A handler whose effect cannot be applied twice (a plain INSERT on a primary key) consumes a topic.
Its first attempt writes its effects and then fails (the database "goes away"): neither the
effects nor the offsets may stay. Then a new consumer in the same group (a restart: Kafka holds no
committed offsets for it, so the client alone would rewind to the beginning) must go on exactly
after the stored offsets: a consumer that rewinds would insert a row twice and fail here, and one
that skipped would miss rows.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select

from shared.db import create_schema, make_engine, make_sessionmaker
from shared.tables import PLUMBING, consumer_offsets, outbox
from tests.conftest import DATABASE_URL, poll, publish
from tests.shared.consuming import applied, applied_count, event, metadata, running_consumer

pytestmark = pytest.mark.integration


def events(start: int, count: int) -> list[dict]:
    return [event(i, f"H44.100-260810-{i % 7:04d}") for i in range(start, start + count)]


async def test_a_restarted_consumer_neither_repeats_nor_skips_and_a_failed_batch_keeps_nothing(topics, schemas):
    schema = f"{schemas}offsets"
    engine = make_engine(DATABASE_URL, schema)
    await create_schema(engine, schema, PLUMBING, metadata)
    sessionmaker = make_sessionmaker(engine)
    seen: list[list[str]] = []
    fail_next = [True]

    async def handle(session, messages):
        ids = [m.envelope.id for m in messages]
        seen.append(ids)
        await session.execute(insert(applied), [{"id": i} for i in ids])  # twice: a unique violation
        if fail_next[0]:
            fail_next[0] = False
            raise OSError("database went away after the effects were written")  # transient: retried
        return []

    async def run_consumer(until: int) -> None:
        async def done() -> bool:
            return await applied_count(sessionmaker) == until

        async with running_consumer(topics, f"{schemas}group", sessionmaker, handle):
            await poll(done, 60, f"{until} rows applied")

    try:
        await publish(topics.dossier_events, events(0, 20))
        await run_consumer(until=20)
        first_run = [i for ids in seen for i in ids]
        assert len(first_run) > 20, "the failed attempt was retried"  # its ids came twice, applied once
        seen.clear()

        await publish(topics.dossier_events, events(20, 10))
        await run_consumer(until=30)  # a restart: the group has no offsets in Kafka
        assert sorted(i for ids in seen for i in ids) == [e["id"] for e in events(20, 10)]
        async with sessionmaker() as session:
            stored = (await session.execute(select(func.sum(consumer_offsets.c.next_offset)))).scalar()
            dead = (await session.execute(select(func.count()).select_from(outbox))).scalar()
        assert stored == 30 and dead == 0
    finally:
        await engine.dispose()
