"""Transactional outbox: rows written with a state change, published to Kafka after commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from prometheus_client import Counter
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import faultpoints
from shared.db import BulkInsert, any_of, commit_without_flush_wait
from shared.kafka import publish_all
from shared.tables import outbox

log = logging.getLogger(__name__)


# Per topic: the dead-letter topic's rate is an alarm (deploy/alerts.yml).
PUBLISHED = Counter("outbox_published_total", "Records the outbox relay published, by topic", ["topic"])

# One relay per schema at a time; the key names the schema, so the services' relays (and tests'
# schemas) never wait on each other.
_RELAY_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.outbox'))")

_INSERT = BulkInsert(outbox, ["topic", "key", "value"])


async def add_to_outbox(session: AsyncSession, messages: Iterable[tuple[str, str, bytes]]) -> None:
    """Queue (topic, key, value) messages in the caller's transaction."""
    rows = [{"topic": t, "key": k, "value": v} for t, k, v in messages]
    if rows:
        await _INSERT.execute(session, rows)  # ids follow the rows' order: per-key order is kept


async def outbox_backlog(session: AsyncSession) -> int:
    return (await session.execute(select(func.count()).select_from(outbox))).scalar_one()


class OutboxRelay:
    """Publishes the outbox in id order; one active relay per schema keeps per-key order."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        producer: AIOKafkaProducer,
        *,
        # Rows per publish: the relay's cycle costs about the same for 2,000 rows as for 10,000
        # when its process is busy serving requests, so big cycles keep up with intake's bursts.
        batch_size: int = 10000,
        idle_seconds: float = 0.5,
    ):
        self._sessionmaker = sessionmaker
        self._producer = producer
        self._batch_size = batch_size
        self._idle_seconds = idle_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self.published = 0

    def wake(self) -> None:
        """Called after a commit that added rows, so they go out without waiting for the poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the publish under way, then return from run() (no cancellation mid-send,
        which would publish those rows again at the next start)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                sent = await self.publish_once()
            except Exception:  # broker or database away: keep the rows, try again shortly
                log.exception("outbox relay failed; retrying")
                sent = 0
                await asyncio.sleep(1.0)
            if sent < self._batch_size and not self._stopping:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self._idle_seconds)
                except TimeoutError:
                    pass

    async def publish_once(self) -> int:
        async with self._sessionmaker() as session, session.begin():
            locked = await session.execute(_RELAY_LOCK)
            if not locked.scalar_one():
                return 0  # another replica is relaying this schema's outbox
            await commit_without_flush_wait(session)  # a lost delete only publishes duplicates
            rows = (await session.execute(select(outbox).order_by(outbox.c.id).limit(self._batch_size))).all()
            if not rows:
                return 0
            await publish_all(self._producer, [(r.topic, r.key.encode(), r.value) for r in rows])
            faultpoints.crash_point("outbox-published", len(rows))  # published, delete not committed
            # Delete by id, not by range: a lower id may commit later than a higher one.
            await session.execute(delete(outbox).where(any_of(outbox.c.id, [r.id for r in rows])))
        self.published += len(rows)
        per_topic: dict[str, int] = {}
        for r in rows:
            per_topic[r.topic] = per_topic.get(r.topic, 0) + 1
        for topic, count in per_topic.items():
            PUBLISHED.labels(topic).inc(count)
        return len(rows)
