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


class InFlight:
    """Reads what each stage still has to do: outbox rows not yet published, queued work, and
    messages not yet consumed. Use as `async with InFlight(...) as f: await f.pending()`."""

    def __init__(
        self, db: AsyncEngine, bootstrap: str, topics: Topics, schemas: str, services: tuple[str, ...] = PUBLISHERS
    ):
        self._db, self._bootstrap, self._topics, self._schemas = db, bootstrap, topics, schemas
        self._services = services
        # Only to read end offsets; it joins no group.
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)

    async def __aenter__(self) -> InFlight:
        self._partitions = {
            s: await _partitions(self._bootstrap, CONSUMES[s](self._topics)) for s in self._services if s in CONSUMES
        }
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self._consumer.stop()

    async def pending(self) -> dict[str, int]:
        """{"intake outbox": 120, "processing lag": 3400, …}; only the non-zero ones."""
        # One statement for every count: this runs several times a second beside the pipeline it
        # watches (the bench's sampler and quiescence), so it should cost the database little.
        counts = {
            f"{service} {table}": f'SELECT count(*) FROM "{self._schemas}{service}".{table}'
            for service in self._services
            for table in ("outbox", *QUEUES.get(service, ()))
        }
        if "processing" in self._services:
            # Deadlines due and not fired yet: the overdue timer (twice a second) will publish
            # them, so the pipeline is not quiet (a freshly restored processing has some).
            counts["processing deadlines due"] = (
                f'SELECT count(*) FROM "{self._schemas}processing".dossiers '
                "WHERE overdue_pending AND deadline_at <= now()"
            )
        offsets = " UNION ALL ".join(
            f"SELECT '{service}', topic, partition, next_offset FROM \"{self._schemas}{service}\".consumer_offsets"
            for service in self._partitions
        )
        async with self._db.connect() as conn:
            row = (await conn.execute(text("SELECT " + ", ".join(f"({q})" for q in counts.values())))).one()
            stored = {(r[0], r[1], r[2]): r[3] for r in await conn.execute(text(offsets))} if offsets else {}
        pending = {name: n for name, n in zip(counts, row, strict=True) if n}
        for service, partitions in self._partitions.items():
            ends = await self._consumer.end_offsets(partitions)
            lag = sum(end - stored.get((service, tp.topic, tp.partition), 0) for tp, end in ends.items())
            if lag:
                pending[f"{service} lag"] = lag
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
    quiet_checks, pending = 0, {"not checked yet": 1}
    async with InFlight(db, bootstrap, topics, schemas, services) as in_flight:
        while time.monotonic() < deadline:
            pending = await in_flight.pending()
            quiet_checks = quiet_checks + 1 if not pending else 0
            if quiet_checks == 2:
                return
            await asyncio.sleep(0.2)  # poll interval, bounded by the deadline
    raise TimeoutError(
        f"pipeline still busy after {timeout:.0f} s: " + ", ".join(f"{what} {n}" for what, n in pending.items())
    )
