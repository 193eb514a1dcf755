"""A BatchConsumer on the test broker, for the tests of what the consumer itself guarantees:
events in intake's wire form, a table of applied ids, and the consumer running in a task."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer
from sqlalchemy import Column, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from shared.consumer import BatchConsumer, BatchHandler
from shared.event_types import INTAKE_MODELS
from shared.topics import Topics
from tests.conftest import KAFKA

ACCEPTS = frozenset(INTAKE_MODELS)
metadata = MetaData()
applied = Table("applied", metadata, Column("id", String, primary_key=True))


def event(n: int, subject: str, type: str = "dossier.supplement_supplied", data: dict | None = None) -> dict:
    return {
        "id": f"event-{n:04d}",
        "type": type,
        "version": 1,
        "source": "test",
        "subject": subject,
        "time": "2026-08-10T09:00:00+07:00",
        "data": data or {},
    }


async def applied_count(sessionmaker: async_sessionmaker) -> int:
    async with sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(applied))).scalar() or 0)


@asynccontextmanager
async def running_consumer(
    topics: Topics, group: str, sessionmaker: async_sessionmaker, handle: BatchHandler, *, service: str = "test"
) -> AsyncIterator[tuple[BatchConsumer, asyncio.Task]]:
    """The consumer of `topics.dossier_events` in a task; stopped (and its Kafka client) on exit."""
    kafka = AIOKafkaConsumer(
        bootstrap_servers=KAFKA, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    consumer = BatchConsumer(
        consumer=kafka,
        topics=[topics.dossier_events],
        group=group,
        sessionmaker=sessionmaker,
        handle=handle,
        accepts=ACCEPTS,
        dead_letter_topic=topics.dead_letter,
        service=service,
    )
    consumer.subscribe()
    await kafka.start()
    task = asyncio.create_task(consumer.run())
    try:
        yield consumer, task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await kafka.stop()
