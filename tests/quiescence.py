"""Waiting, with a deadline, until the pipeline has consumed and published everything."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.topics import Topics

# Which topics each consuming service reads (as in the services' app.py).
CONSUMES = {
    "processing": lambda t: [t.dossier_events],
    "sync": lambda t: [t.lifecycle],
    "metrics": lambda t: [t.lifecycle, t.portal_sync],
}
PUBLISHERS = ("intake", "processing", "sync", "metrics")


async def _end_offsets(consumer: AIOKafkaConsumer, topics: list[str]) -> dict[tuple[str, int], int]:
    partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
    ends = await consumer.end_offsets(partitions)
    return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}


async def _pending(db: AsyncEngine, consumer: AIOKafkaConsumer, topics: Topics, schemas: str) -> list[str]:
    """What is still in flight: outbox rows not yet published, messages not yet consumed."""
    pending = []
    async with db.connect() as conn:
        for service in PUBLISHERS:
            count = (await conn.execute(text(f'SELECT count(*) FROM "{schemas}{service}".outbox'))).scalar()
            if count:
                pending.append(f"{service} outbox {count}")
        for service, consumed in CONSUMES.items():
            names = consumed(topics)
            ends = await _end_offsets(consumer, names)
            rows = await conn.execute(
                text(f'SELECT topic, partition, next_offset FROM "{schemas}{service}".consumer_offsets')
            )
            stored = {(r.topic, r.partition): r.next_offset for r in rows}
            lag = sum(end - stored.get(tp, 0) for tp, end in ends.items())
            if lag:
                pending.append(f"{service} lag {lag}")
    return pending


async def wait_until_quiet(
    db: AsyncEngine, bootstrap: str, topics: Topics, schemas: str, timeout: float = 90
) -> None:
    """Poll until nothing is in flight twice in a row (a relay may publish between checks)."""
    deadline = time.monotonic() + timeout
    quiet_checks, pending = 0, ["not checked yet"]
    # One consumer for the whole wait (only to read end offsets; it joins no group).
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        while time.monotonic() < deadline:
            pending = await _pending(db, consumer, topics, schemas)
            quiet_checks = quiet_checks + 1 if not pending else 0
            if quiet_checks == 2:
                return
            await asyncio.sleep(0.2)  # poll interval, bounded by the deadline
    finally:
        await consumer.stop()
    raise TimeoutError(f"pipeline still busy after {timeout:.0f} s: {', '.join(pending)}")
