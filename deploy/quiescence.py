"""Waiting, with a deadline, until the pipeline has consumed and published everything."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
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
# Work a service has accepted but not finished, besides its outbox.
QUEUES = {"sync": ("sync_backlog", "docsys_backlog")}


async def _partitions(bootstrap: str, topics: list[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    missing = [d["topic"] for d in described if d["error_code"] or not d["partitions"]]
    if missing:
        raise LookupError(f"topics not found: {', '.join(missing)}")
    return [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]


async def _pending(
    db: AsyncEngine, consumer: AIOKafkaConsumer, partitions: dict[str, list[TopicPartition]], schemas: str
) -> list[str]:
    """What is still in flight: outbox rows not yet published, messages not yet consumed."""
    pending = []
    async with db.connect() as conn:
        for service in partitions:
            for table in ("outbox", *QUEUES.get(service, ())):
                count = (await conn.execute(text(f'SELECT count(*) FROM "{schemas}{service}".{table}'))).scalar()
                if count:
                    pending.append(f"{service} {table} {count}")
        for service in partitions:
            if service not in CONSUMES:
                continue
            ends = await consumer.end_offsets(partitions[service])
            rows = await conn.execute(
                text(f'SELECT topic, partition, next_offset FROM "{schemas}{service}".consumer_offsets')
            )
            stored = {(r.topic, r.partition): r.next_offset for r in rows}
            lag = sum(end - stored.get((tp.topic, tp.partition), 0) for tp, end in ends.items())
            if lag:
                pending.append(f"{service} lag {lag}")
    return pending


async def wait_until_quiet(
    db: AsyncEngine,
    bootstrap: str,
    topics: Topics,
    schemas: str,
    timeout: float = 90,
    services: tuple[str, ...] = PUBLISHERS,
) -> None:
    """Poll until nothing is in flight twice in a row (a relay may publish between checks)."""
    deadline = time.monotonic() + timeout
    quiet_checks, pending = 0, ["not checked yet"]
    # One consumer for the whole wait (only to read end offsets; it joins no group).
    partitions = {
        s: await _partitions(bootstrap, CONSUMES[s](topics)) if s in CONSUMES else [] for s in services
    }
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        while time.monotonic() < deadline:
            pending = await _pending(db, consumer, partitions, schemas)
            quiet_checks = quiet_checks + 1 if not pending else 0
            if quiet_checks == 2:
                return
            await asyncio.sleep(0.2)  # poll interval, bounded by the deadline
    finally:
        await consumer.stop()
    raise TimeoutError(f"pipeline still busy after {timeout:.0f} s: {', '.join(pending)}")
