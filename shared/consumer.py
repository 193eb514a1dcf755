"""Batch consumer with offsets stored in PostgreSQL, committed with the batch's effects.

This is aiokafka's "storing offsets outside Kafka" pattern: a batch's state changes and its
next offsets commit in one transaction, and on assignment the consumer seeks to the stored
offsets. Each record is decoded here, once, into a typed envelope; one that is not a valid event
of a type the consumer accepts, or that fails on its own, goes to the dead-letter topic
(shared/deadletters.py) and the consumer moves on. Handlers see only typed messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from prometheus_client import Gauge
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import faultpoints
from shared.db import commit_without_flush_wait, is_transient
from shared.deadletters import DeadLetter
from shared.event_types import Data
from shared.events import Envelope, EventError, parse_typed
from shared.outbox import add_to_outbox
from shared.tables import consumer_offsets

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Message:
    """A consumed record decoded once: its typed envelope (`data` is the model), and the model."""

    record: ConsumerRecord
    envelope: Envelope
    data: Data


@dataclass(frozen=True, slots=True)
class Refused:
    """A consumed record that is not a valid event of an accepted type, with the reason."""

    record: ConsumerRecord
    reason: str


# A handler applies a batch of messages in the given session and returns those it could not
# apply, each with its reason; they go to the dead-letter topic in the same transaction.
Rejected = list[tuple[Message, str]]
BatchHandler = Callable[[AsyncSession, Sequence[Message]], Awaitable[Rejected]]
# The (event type, version) pairs a consumer accepts: anything else is refused before its handler.
Accepts = Collection[tuple[str, int]]


def decode(record: ConsumerRecord, accepts: Accepts, service: str) -> Message | Refused:
    """The record as a typed message, or refused with the reason (parsed once, here)."""
    try:
        envelope, data = parse_typed(record.value)
    except EventError as exc:
        return Refused(record, f"invalid event: {exc}")
    except Exception as exc:  # nothing a record holds may stop the consumer (it would read it again for ever)
        return Refused(record, f"invalid event: {type(exc).__name__}: {exc}"[:2000])
    if (envelope.type, envelope.version) not in accepts:
        return Refused(record, f"not accepted: {envelope.type} v{envelope.version} is not an event {service} consumes")
    return Message(record, envelope, data)


# Records lost to the broker before this consumer applied them (deleted or expired past the
# stored offset), per partition; 0 once an operator resolved the gap (deploy/offsets.py).
OFFSET_GAP = Gauge(
    "consumer_offset_gap_records",
    "Records missing between the stored offset and the partition's log start; the "
    "partition is paused until an operator replays or skips them",
    ["service", "topic", "partition"],
)
# Records on the broker not yet applied, per partition (the broker's high watermark, as last
# seen by the consumer, minus the next offset to apply); refreshed at most once a second.
LAG = Gauge(
    "consumer_lag_records", "Records on the broker this service has not applied yet", ["service", "topic", "partition"]
)
# How often a paused partition looks again for the operator's decision (a changed stored offset).
GAP_RECHECK_SECONDS = 2.0


class OffsetGap(RuntimeError):
    """A stored offset the broker no longer holds: the records in between were never applied."""


class RecordError(Exception):
    """A record that cannot be applied; its message is the dead-letter reason."""


class PositionLost(Exception):
    """The database holds older offsets than this consumer applied: commits were lost with it."""


def dead_letter_value(record: ConsumerRecord, reason: str, service: str) -> bytes:
    """The dead letter of a consumed record: where it came from, why it failed, and its bytes."""
    raw: bytes = record.value or b""
    return DeadLetter(
        service=service,
        kind="unapplied_record",
        reason=reason,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=(record.key or b"").decode(errors="replace"),
        value=raw.decode(errors="replace"),
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
            self._runner.forget_gaps(revoked)

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
        accepts: Accepts,
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
        self._accepts = frozenset(accepts)
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
        # Partitions paused on an offset gap, with what is wrong. Reported by
        # /ready, the gauge above and an error log line; never skipped without an operator.
        self.gaps: dict[TopicPartition, str] = {}
        self._next_gap_check = 0.0
        self._lag_at = 0.0

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
        starts = await self.consumer.beginning_offsets(partitions)
        ends = await self.consumer.end_offsets(partitions)
        for tp in partitions:
            self.expected[tp] = stored.get(tp, 0)
            if starts[tp] > self.expected[tp]:
                self._gap(tp, self.expected[tp], starts[tp])
                continue
            if ends[tp] < self.expected[tp]:
                # The broker lost records this service applied (a recreated topic, an unclean leader
                # election): the next records it is given reuse those offsets and would be skipped.
                self._gap(tp, self.expected[tp], starts[tp], ends[tp])
                continue
            self._resume(tp)
            if tp in stored:
                self.consumer.seek(tp, stored[tp])
            else:
                await self.consumer.seek_to_beginning(tp)

    def _gap(self, tp: TopicPartition, stored: int, start: int, end: int | None = None) -> None:
        """Stop reading the partition: carrying on would skip records silently."""
        what = (
            f"stored {stored} < log start {start}"
            if end is None
            else f"stored {stored} > log end {end} (the broker lost records)"
        )
        if self.gaps.get(tp) != what:
            log.error(
                "offset gap on %s/%s for %s: %s; partition paused until an operator replays or skips: "
                "python -m deploy.offsets",
                tp.topic,
                tp.partition,
                self._group,
                what,
                extra={"topic": tp.topic, "partition": tp.partition, "offset": stored},
            )
        self.gaps[tp] = what
        self.consumer.pause(tp)
        lost = start - stored if end is None else max(1, stored - end)
        OFFSET_GAP.labels(self._service, tp.topic, str(tp.partition)).set(lost)

    def _resume(self, tp: TopicPartition) -> None:
        if self.gaps.pop(tp, None) is not None:
            log.warning("offset gap on %s/%s resolved; consuming from %s", tp.topic, tp.partition, self.expected[tp])
            self.consumer.resume(tp)
        OFFSET_GAP.labels(self._service, tp.topic, str(tp.partition)).set(0)

    def forget_gaps(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            if self.gaps.pop(tp, None) is not None:
                self.consumer.resume(tp)  # whoever gets it next judges it again
                OFFSET_GAP.labels(self._service, tp.topic, str(tp.partition)).set(0)

    def check_gaps(self) -> None:
        """For /ready: fail naming every paused partition."""
        if self.gaps:
            raise OffsetGap(
                "offset gap, partition paused (python -m deploy.offsets): "
                + "; ".join(f"{tp.topic}/{tp.partition} {what}" for tp, what in sorted(self.gaps.items()))
            )

    async def _recheck_gaps(self) -> None:
        """A paused partition resumes once the stored offset reaches the log start (skip or replay
        command) — under the lock, like an assignment."""
        if not self.gaps or asyncio.get_running_loop().time() < self._next_gap_check:
            return
        self._next_gap_check = asyncio.get_running_loop().time() + GAP_RECHECK_SECONDS
        await self.seek_to_stored(list(self.gaps))

    async def _holes_are_gaps(self, fetched: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Records that start after the expected offset: compaction (fine, the newer record of each
        dossier is there) or deletion past the expected offset while running (a gap)."""
        jumped = [
            tp
            for tp, rs in fetched.items()
            if tp in self.expected and tp not in self.gaps and rs and rs[0].offset > self.expected[tp]
        ]
        if jumped:
            starts = await self.consumer.beginning_offsets(jumped)
            for tp in jumped:
                if starts[tp] > self.expected[tp]:
                    self._gap(tp, self.expected[tp], starts[tp])

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
                await self._recheck_gaps()
                await self._holes_are_gaps(fetched)
                # Records fetched before the seek to the stored offsets (or already applied) are
                # skipped; the seek makes aiokafka deliver the right ones next. A gap's are not applied.
                batches = {
                    tp: kept
                    for tp, rs in fetched.items()
                    if tp in self.expected
                    and tp not in self.gaps
                    and (kept := [r for r in rs if r.offset >= self.expected[tp]])
                }
                records = [r for rs in batches.values() for r in rs]
                self._report_lag()
                if not records:
                    continue
                # Decoded once, outside the retries: a batch read again after a failure is not parsed again.
                decoded = [decode(r, self._accepts, self._service) for r in records]
                try:
                    await self._apply_with_retry(decoded)
                    for tp, rs in batches.items():
                        self.expected[tp] = rs[-1].offset + 1
                except PositionLost as exc:
                    log.warning("%s; reading again from the stored offsets", exc)
                    await self.seek_to_stored(list(self.expected))
                except Exception:
                    # Not applied and not committed: read the same records again next time.
                    for tp, rs in batches.items():
                        self.consumer.seek(tp, rs[0].offset)
                    raise

    def _report_lag(self) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._lag_at < 1.0:
            return
        self._lag_at = now
        for tp, expected in self.expected.items():
            highwater = self.consumer.highwater(tp)
            if highwater is not None:
                LAG.labels(self._service, tp.topic, str(tp.partition)).set(max(0, highwater - expected))

    async def _apply_with_retry(self, items: list[Message | Refused]) -> None:
        delay = 0.2
        while True:
            try:
                await self._apply(items)
                return
            except PositionLost:
                raise
            except Exception as exc:
                if not is_transient(exc):  # a record's fault (or a handler's bug): isolate it
                    await self._apply_one_by_one(items)
                    return
                log.warning("database unavailable (%s); retrying in %.1fs", type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _apply(self, items: Sequence[Message | Refused]) -> None:
        records = [i.record for i in items]
        async with self._sessionmaker() as session, session.begin():
            await commit_without_flush_wait(session)  # offsets commit with the effects: redone if lost
            # The chaos tests' injected loss (off unless FAULT_DROP_ONE is set): one record is
            # skipped while its offset is stored, which they must detect.
            handled = items[1:] if faultpoints.drop_one() else items
            await self._check_position(session, records)
            messages = [i for i in handled if isinstance(i, Message)]
            rejected = [(i.record, i.reason) for i in handled if isinstance(i, Refused)]
            if messages:
                rejected += [(m.record, reason) for m, reason in await self._handle(session, messages)]
            for record, reason in rejected:
                await self.dead_letter(session, record, reason)
            await self._store_offsets(session, records)
            faultpoints.crash_point("consumer-applied", len(records))
        self.applied += len(records) - len(rejected)
        self.dead_lettered += len(rejected)
        self._after_commit()

    async def _apply_one_by_one(self, items: list[Message | Refused]) -> None:
        """Isolate the failing record(s): each good one applies, each bad one is dead-lettered."""
        for item in items:
            record = item.record
            try:
                await self._apply([item])
            except PositionLost:
                raise
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

    async def _check_position(self, session: AsyncSession, records: Sequence[ConsumerRecord]) -> None:
        """The stored offsets must not be behind what this process has applied. Batches commit
        without waiting for the WAL flush, so a database crash can lose the last few commits, effects
        and offsets together; a restarted consumer reads them again from the stored offsets, but a
        running one would carry on from memory and lose them for good."""
        rows = await session.execute(
            select(consumer_offsets.c.topic, consumer_offsets.c.partition, consumer_offsets.c.next_offset).where(
                consumer_offsets.c.consumer_group == self._group
            )
        )
        stored = {TopicPartition(t, p): o for t, p, o in rows.tuples()}
        behind = sorted(
            {
                TopicPartition(r.topic, r.partition)
                for r in records
                if stored.get(TopicPartition(r.topic, r.partition), 0)
                < self.expected.get(TopicPartition(r.topic, r.partition), 0)
            }
        )
        if behind:
            raise PositionLost(
                "stored offsets behind what was applied on "
                + ", ".join(f"{tp.topic}/{tp.partition} ({stored.get(tp, 0)} < {self.expected[tp]})" for tp in behind)
            )

    async def dead_letter(self, session: AsyncSession, record: ConsumerRecord, reason: str) -> None:
        """Queue a consumed record's dead letter in the caller's transaction."""
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
