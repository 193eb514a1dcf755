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
# Work a service has accepted but not finished, besides its outbox; each table with its key.
QUEUES = {"sync": {"sync_backlog": "dossier_code", "docsys_backlog": "dossier_code"}}
OUTBOX_KEY = "id"


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

    def _tables(self) -> dict[str, tuple[str, str]]:
        """{"intake outbox": ('"<schema>".outbox', "id"), …}: each table of work in flight, with its key."""
        return {
            f"{service} {table}": (f'"{self._schemas}{service}".{table}', key)
            for service in self._services
            for table, key in {"outbox": OUTBOX_KEY, **QUEUES.get(service, {})}.items()
        }

    def _deadlines_due(self) -> str | None:
        # Deadlines due and not fired yet: the overdue timer (twice a second) will publish them, so
        # the pipeline is not quiet (a freshly restored processing has some).
        if "processing" not in self._services:
            return None
        return (
            f'SELECT count(*) FROM "{self._schemas}processing".dossiers WHERE overdue_pending AND deadline_at <= now()'
        )

    async def pending(self) -> dict[str, int]:
        """{"intake outbox": 120, "processing lag": 3400, …}; only the non-zero ones. Counting
        reads every row: in a busy pipeline that is tens of milliseconds a call (busy() is not)."""
        counts = {name: f"SELECT count(*) FROM {table}" for name, (table, _) in self._tables().items()}
        if due := self._deadlines_due():
            counts["processing deadlines due"] = due
        async with self._db.connect() as conn:
            row = (await conn.execute(text("SELECT " + ", ".join(f"({q})" for q in counts.values())))).one()
        pending = {name: n for name, n in zip(counts, row, strict=True) if n}
        return pending | await self._lags()

    async def busy(self) -> bool:
        """Whether pending() would list anything, at a fraction of its cost: the first row of each
        table by its key (an index scan that stops at once) instead of a count. The bench polls
        this several times a second beside the pipeline it measures; counting the bloated outboxes
        and backlog there took 30-70 ms of the database's time a poll."""
        checks = [
            f"(SELECT 1 FROM {table} ORDER BY {key} LIMIT 1) IS NOT NULL" for table, key in self._tables().values()
        ]
        if due := self._deadlines_due():
            checks.append(f"({due}) > 0")
        async with self._db.connect() as conn:
            if (await conn.execute(text("SELECT " + " OR ".join(checks)))).scalar_one():
                return True
        return bool(await self._lags())

    async def _lags(self) -> dict[str, int]:
        """{"processing lag": 3400, …}: messages not yet consumed, by the offsets each service
        stored with its effects. Stored offsets are read before the end offsets, so a lag can be
        over-counted (a message produced in between), never hidden."""
        offsets = " UNION ALL ".join(
            f"SELECT '{service}', topic, partition, next_offset FROM \"{self._schemas}{service}\".consumer_offsets"
            for service in self._partitions
        )
        if not offsets:
            return {}
        async with self._db.connect() as conn:
            stored = {(r[0], r[1], r[2]): r[3] for r in await conn.execute(text(offsets))}
        lags = {}
        for service, partitions in self._partitions.items():
            ends = await self._consumer.end_offsets(partitions)
            lag = sum(end - stored.get((service, tp.topic, tp.partition), 0) for tp, end in ends.items())
            if lag:
                lags[f"{service} lag"] = lag
        return lags


async def wait_until_quiet(
    db: AsyncEngine,
    bootstrap: str,
    topics: Topics,
    schemas: str,
    timeout: float = 90,
    services: tuple[str, ...] = PUBLISHERS,
) -> None:
    """Poll until nothing is in flight twice in a row: one check reads the tables, then the
    offsets, so a consumer committing in between can look quiet once."""
    deadline = time.monotonic() + timeout
    quiet_checks, pending = 0, {"not checked yet": 1}
    async with InFlight(db, bootstrap, topics, schemas, services) as in_flight:
        while time.monotonic() < deadline:
            quiet_checks = 0 if await in_flight.busy() else quiet_checks + 1
            if quiet_checks == 2:
                return
            # Busy: look again in 0.2 s. Quiet once: confirm at once, so the answer comes when
            # the pipeline went quiet, not a poll later (the bench times its end to end by it).
            await asyncio.sleep(0.05 if quiet_checks else 0.2)
        pending = await in_flight.pending()  # what is still busy, for the message
    raise TimeoutError(
        f"pipeline still busy after {timeout:.0f} s: " + ", ".join(f"{what} {n}" for what, n in pending.items())
    )
