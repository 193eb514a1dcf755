"""Offset gaps: see them and decide what to do (the consumer waits, paused, until then).

A gap is a partition whose stored offset (the next record a service will apply) is below the
broker's log start offset: the records in between were deleted or expired before the service
applied them. The consumer pauses that partition and reports it (/ready, the metric
consumer_offset_gap_records, an error log line) instead of silently carrying on.

    python -m deploy.offsets status  --service processing
    python -m deploy.offsets replay  --service processing --topic dossier-events --partition 0 --reason "…"
    python -m deploy.offsets skip    --service metrics --topic portal-sync --partition 1 --reason "…"

Each reads the service's own settings (PROCESSING_DATABASE_URL, PROCESSING_DB_SCHEMA,
PROCESSING_KAFKA_BOOTSTRAP, PROCESSING_TOPIC_PREFIX…: source the service's environment file).
`--topic` is the topic's name without the prefix.

replay: re-publishes, from PostgreSQL, everything the lost records could have carried for the
dossiers of that partition (dossier-events from intake's accepted events; dossier-lifecycle from
processing's current states) through the owner's outbox, at the end of the topic, then moves the
stored offset to the log start. Consumers drop what they had already (event ids, revisions), so
replaying more than was lost changes nothing. The owning service must be running to publish.
skip: moves the stored offset to the log start; the lost records are never applied. Use it only
when nothing can replay them (portal-sync: sync's reconciliation re-sends states to the portal,
whose outcomes then come again), and say why in --reason (logged).
The paused consumer notices the new stored offset within seconds and resumes; no restart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic_settings import SettingsConfigDict
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert

from shared.config import ServiceSettings
from shared.db import make_engine
from shared.events import make_event, serialize
from shared.kafka import _PARTITIONER
from shared.tables import consumer_offsets

log = logging.getLogger("deploy.offsets")

# What each service consumes (as its app.py says) and where a lost record can be rebuilt from.
CONSUMES = {
    "processing": ("dossier-events",),
    "sync": ("dossier-lifecycle",),
    "metrics": ("dossier-lifecycle", "portal-sync"),
}
REPLAYABLE = {"dossier-events": "intake", "dossier-lifecycle": "processing"}


def service_settings(service: str) -> ServiceSettings:
    """The generic part of a service's settings, from the same environment the service reads."""

    class Settings(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix=f"{service.upper()}_", extra="ignore")
        db_schema: str = service

    return Settings()


@dataclass
class PartitionState:
    topic: str
    partition: int
    stored: int  # the next offset the service will apply (0: none stored yet)
    log_start: int
    log_end: int

    @property
    def gap(self) -> int:
        """Records lost to this service; for a log shorter than the stored offset (the broker lost
        records the service applied), how many offsets the next records would be skipped by."""
        if self.stored > self.log_end:
            return self.stored - self.log_end
        return max(0, self.log_start - self.stored)


async def _partitions(settings: ServiceSettings, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(p["partition"] for d in described for p in d["partitions"])


def group_of(settings: ServiceSettings, service: str) -> str:
    return settings.consumer_group or f"{settings.topic_prefix}{service}"


async def status(settings: ServiceSettings, service: str) -> list[PartitionState]:
    topics = [settings.topic_prefix + t for t in CONSUMES[service]]
    partitions = [TopicPartition(t, p) for t in topics for p in await _partitions(settings, t)]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    engine = make_engine(settings.database_url, settings.db_schema, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer_group = :g"),
                {"g": group_of(settings, service)},
            )
            stored = {(r.topic, r.partition): r.next_offset for r in rows}
    finally:
        await engine.dispose()
    return [
        PartitionState(tp.topic, tp.partition, stored.get((tp.topic, tp.partition), 0), starts[tp], ends[tp])
        for tp in partitions
    ]


async def skip(settings: ServiceSettings, service: str, topic: str, partition: int, reason: str) -> int:
    """Move the stored offset to the log start; returns how many records are thereby given up."""
    name = settings.topic_prefix + topic
    state = next(s for s in await status(settings, service) if (s.topic, s.partition) == (name, partition))
    if not state.gap:
        return 0
    # Behind the log start: resume there. Beyond the log end (the broker lost records): read the
    # partition again from its start; what was applied already is dropped as a duplicate.
    statement = insert(consumer_offsets).values(
        consumer_group=group_of(settings, service), topic=name, partition=partition, next_offset=state.log_start
    )
    statement = statement.on_conflict_do_update(
        index_elements=["consumer_group", "topic", "partition"],
        set_={"next_offset": state.log_start},
        where=consumer_offsets.c.next_offset == state.stored,
    )
    engine = make_engine(settings.database_url, settings.db_schema, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(statement)
    finally:
        await engine.dispose()
    log.warning(
        json.dumps(
            {
                "action": "skip",
                "service": service,
                "topic": name,
                "partition": partition,
                "from": state.stored,
                "to": state.log_start,
                "records": state.gap,
                "reason": reason,
            },
            ensure_ascii=False,
        )
    )
    return state.gap


async def replay(settings: ServiceSettings, service: str, topic: str, partition: int, reason: str) -> int:
    """Queue every stored record of the partition's dossiers in the owner's outbox, then skip the
    gap; returns how many records were queued."""
    if topic not in REPLAYABLE:
        raise ValueError(f"nothing in PostgreSQL rebuilds {topic}; use skip (see --help)")
    owner = REPLAYABLE[topic]
    name = settings.topic_prefix + topic
    # The owner's schema sits beside the service's (same prefix, as deploy.launch names them).
    owner_schema = settings.db_schema[: len(settings.db_schema) - len(service)] + owner
    partitions = await _partitions(settings, name)
    engine = make_engine(settings.database_url, owner_schema, pool_size=1)
    try:
        async with engine.begin() as conn:
            mine = [
                (key, value)
                for key, value in await _records(conn, topic)
                if _PARTITIONER(key.encode(), partitions, partitions) == partition
            ]
            if mine:
                await conn.execute(
                    text(
                        "INSERT INTO outbox (topic, key, value) SELECT :t, k, v "
                        "FROM unnest(CAST(:k AS text[]), CAST(:v AS bytea[])) AS r(k, v)"
                    ),
                    {"t": name, "k": [k for k, _ in mine], "v": [v for _, v in mine]},
                )
    finally:
        await engine.dispose()
    log.warning(
        json.dumps(
            {
                "action": "replay",
                "service": service,
                "topic": name,
                "partition": partition,
                "queued": len(mine),
                "from": owner_schema,
                "reason": reason,
            },
            ensure_ascii=False,
        )
    )
    await skip(settings, service, topic, partition, f"replayed {len(mine)} records from {owner}: {reason}")
    return len(mine)


async def _records(conn, topic: str) -> list[tuple[str, bytes]]:
    """(key, value) of every record the topic needs again, oldest first per key."""
    if topic == "dossier-events":  # as intake accepted them, byte for byte
        rows = await conn.execute(text("SELECT subject, body::text FROM accepted_events ORDER BY time, id"))
        return [(key, body.encode()) for key, body in rows]
    # Each dossier's current state as processing publishes it (same deterministic event id).
    now = datetime.now(UTC)
    rows = await conn.execute(text("SELECT code, revision, state::text FROM dossiers ORDER BY code"))
    return [
        (
            code,
            serialize(
                make_event(
                    event_id=f"{code}:r{revision}",
                    type="dossier.state",
                    source="processing",
                    subject=code,
                    time=now,
                    data={},
                ),
                state.encode(),
            ),
        )
        for code, revision, state in rows
    ]


def main() -> None:
    logging.basicConfig(level="INFO", format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["status", "replay", "skip"])
    parser.add_argument("--service", required=True, choices=sorted(CONSUMES))
    parser.add_argument("--topic", help="without the prefix, e.g. dossier-events")
    parser.add_argument("--partition", type=int)
    parser.add_argument("--reason", help="why: kept in the log (required for replay and skip)")
    args = parser.parse_args()
    settings = service_settings(args.service)
    if args.action == "status":
        states = asyncio.run(status(settings, args.service))
        for s in states:
            print(
                f"{s.topic}/{s.partition}\tstored {s.stored}\tlog {s.log_start}..{s.log_end}\t"
                + (f"GAP: {s.gap} records lost" if s.gap else "ok")
            )
        sys.exit(1 if any(s.gap for s in states) else 0)
    if args.topic is None or args.partition is None or not args.reason:
        parser.error(f"{args.action} needs --topic, --partition and --reason")
    if args.action == "skip":
        print(f"skipped {asyncio.run(skip(settings, args.service, args.topic, args.partition, args.reason))} records")
    else:
        print(
            f"queued {asyncio.run(replay(settings, args.service, args.topic, args.partition, args.reason))} "
            "records for re-publishing"
        )


if __name__ == "__main__":
    main()
