"""Batch consumer with offsets stored in PostgreSQL, committed with the batch's effects.

This is aiokafka's "storing offsets outside Kafka" pattern: a batch's state changes and its
next offsets commit in one transaction, and on assignment the consumer seeks to the stored
offsets. A record that fails on its own goes to the dead-letter topic; the consumer moves on.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import faultpoints
from shared.db import commit_without_flush_wait
from shared.outbox import add_to_outbox
from shared.tables import consumer_offsets

log = logging.getLogger(__name__)

# A handler applies a batch in the given session and returns the records it rejected, each
# with its reason; those go to the dead-letter topic in the same transaction.
Rejected = list[tuple[ConsumerRecord, str]]
BatchHandler = Callable[[AsyncSession, Sequence[ConsumerRecord]], Awaitable[Rejected]]


class RecordError(Exception):
    """A record that cannot be applied; its message is the dead-letter reason."""


# SQLSTATE classes that say "try again later", not "this record is bad": connection exception,
# insufficient resources, operator intervention (shutdown, starting up), transaction rollback,
# and 42 (undefined column or table: a schema that does not match the code). Our statements are
# static, so a 42 is never one record's fault; dead-lettering would empty the stream into the
# dead-letter topic, while retrying keeps it intact until the deployment is fixed.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57", "40", "42")


def is_transient(exc: BaseException) -> bool:
    """True if the database (not the record) is at fault, so the same batch should be retried."""
    if isinstance(exc, (OSError, InterfaceError)):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return isinstance(sqlstate, str) and sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES
    return False


def dead_letter_value(record: ConsumerRecord, reason: str, service: str) -> bytes:
    """The dead-letter record: where the message came from, why it failed, and its raw bytes."""
    raw = record.value or b""
    return json.dumps(
        {
            "service": service,
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "key": (record.key or b"").decode(errors="replace"),
            "value": raw.decode(errors="replace"),
            "reason": reason,
            "time": datetime.now(UTC).isoformat(),
        },
        ensure_ascii=False,
    ).encode()


class _SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, runner: BatchConsumer):
        self._runner = runner

    # Both callbacks run in aiokafka's coordinator task, concurrently with run(), which may
    # already be fetching from aiokafka's reset position: they take the runner's lock, so a
    # batch in flight commits before its partitions move, and run() applies only records at or
    # after the position the stored offsets set (BatchConsumer.expected).
    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._runner.lock:
            self._runner.expected.clear()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        async with self._runner.lock:
            await self._runner.seek_to_stored(list(assigned))


class BatchConsumer:
    """Poll a batch -> handle -> commit effects and offsets together -> notify."""

    def __init__(
        self,
        *,
        consumer: AIOKafkaConsumer,
        topics: Sequence[str],
        group: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        handle: BatchHandler,
        dead_letter_topic: str,
        service: str,
        after_commit: Callable[[], None] | None = None,
        max_records: int = 1000,
    ):
        self.consumer = consumer
        self._topics = list(topics)
        self._group = group
        self._sessionmaker = sessionmaker
        self._handle = handle
        self._dead_letter_topic = dead_letter_topic
        self._service = service
        self._after_commit = after_commit or (lambda: None)
        self._max_records = max_records
        self.applied = 0
        self.dead_lettered = 0
        # The next offset to apply per assigned partition, from the stored offsets, then advanced
        # by each committed batch; a partition not in it has not been positioned yet.
        self.lock = asyncio.Lock()
        self.expected: dict[TopicPartition, int] = {}

    async def seek_to_stored(self, partitions: list[TopicPartition]) -> None:
        delay = 0.2
        while True:  # without the stored offsets there is nowhere safe to read from: wait for them
            try:
                stored = await self._stored_offsets()
                break
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("cannot read stored offsets (%s); retrying in %.1fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        for tp in partitions:
            if tp in stored:
                self.consumer.seek(tp, stored[tp])
            else:
                await self.consumer.seek_to_beginning(tp)
            self.expected[tp] = stored.get(tp, 0)

    async def _stored_offsets(self) -> dict[TopicPartition, int]:
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(consumer_offsets).where(consumer_offsets.c.consumer_group == self._group)
            )
            return {TopicPartition(r.topic, r.partition): r.next_offset for r in rows}

    def subscribe(self) -> None:
        self.consumer.subscribe(self._topics, listener=_SeekToStoredOffsets(self))

    async def run(self) -> None:
        """Consume until cancelled. Call subscribe() and consumer.start() first."""
        while True:
            fetched = await self.consumer.getmany(timeout_ms=200, max_records=self._max_records)
            async with self.lock:
                # Records fetched before the seek to the stored offsets (or already applied) are
                # skipped; the seek makes aiokafka deliver the right ones next.
                batches = {tp: kept for tp, rs in fetched.items() if tp in self.expected
                           and (kept := [r for r in rs if r.offset >= self.expected[tp]])}
                records = [r for rs in batches.values() for r in rs]
                if not records:
                    continue
                try:
                    await self._apply_with_retry(records)
                    for tp, rs in batches.items():
                        self.expected[tp] = rs[-1].offset + 1
                except Exception:
                    # Not applied and not committed: read the same records again next time.
                    for tp, rs in batches.items():
                        self.consumer.seek(tp, rs[0].offset)
                    raise

    async def _apply_with_retry(self, records: list[ConsumerRecord]) -> None:
        delay = 0.2
        while True:
            try:
                await self._apply(records)
                return
            except Exception as exc:
                if not is_transient(exc):  # a record's fault (or a handler's bug): isolate it
                    await self._apply_one_by_one(records)
                    return
                log.warning("database unavailable (%s); retrying in %.1fs", type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _apply(self, records: Sequence[ConsumerRecord]) -> None:
        async with self._sessionmaker() as session, session.begin():
            await commit_without_flush_wait(session)  # offsets commit with the effects: redone if lost
            # The chaos tests' injected loss (off unless FAULT_DROP_ONE is set): one record is
            # skipped while its offset is stored, which they must detect.
            handled = records[1:] if faultpoints.drop_one() else records
            rejected = await self._handle(session, handled)
            for record, reason in rejected:
                await self.dead_letter(session, record, reason)
            await self._store_offsets(session, records)
            faultpoints.crash_point("consumer-applied", len(records))
        self.applied += len(records) - len(rejected)
        self.dead_lettered += len(rejected)
        self._after_commit()

    async def _apply_one_by_one(self, records: list[ConsumerRecord]) -> None:
        """Isolate the failing record(s): each good one applies, each bad one is dead-lettered."""
        for record in records:
            try:
                await self._apply([record])
            except Exception as exc:
                if is_transient(exc):
                    raise  # not the record's fault: run() reads it again once the database is back
                reason = f"{type(exc).__name__}: {exc}"[:2000]
                log.error("dead-lettering %s/%s@%s: %s", record.topic, record.partition, record.offset, reason)
                async with self._sessionmaker() as session, session.begin():
                    await self.dead_letter(session, record, reason)
                    await self._store_offsets(session, [record])
                self.dead_lettered += 1
                self._after_commit()

    async def dead_letter(self, session: AsyncSession, record: ConsumerRecord, reason: str) -> None:
        """Queue a dead-letter record in the caller's transaction (used by handlers too)."""
        value = dead_letter_value(record, reason, self._service)
        key = (record.key or b"").decode(errors="replace") or "-"
        await add_to_outbox(session, [(self._dead_letter_topic, key, value)])

    async def _store_offsets(self, session: AsyncSession, records: Sequence[ConsumerRecord]) -> None:
        next_offsets: dict[tuple[str, int], int] = {}
        for r in records:
            key = (r.topic, r.partition)
            next_offsets[key] = max(next_offsets.get(key, 0), r.offset + 1)
        rows = [
            {"consumer_group": self._group, "topic": t, "partition": p, "next_offset": o}
            for (t, p), o in next_offsets.items()
        ]
        await session.execute(STORE_OFFSETS, rows)


def _store_offsets_statement() -> Insert:
    stmt = insert(consumer_offsets)
    return stmt.on_conflict_do_update(
        index_elements=["consumer_group", "topic", "partition"],
        set_={"next_offset": stmt.excluded.next_offset},
    )


# Built once; executed with a list of rows (no per-batch statement compilation).
STORE_OFFSETS = _store_offsets_statement()
