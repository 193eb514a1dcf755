"""Rebuild the metrics projection from the topics, for a new schema or after a formula change.

    python -m services.metrics.rebuild [--replace] [--workers N]     (settings from METRICS_*)

The lifecycle topic is compacted by dossier (its key), so it holds about one state per dossier
plus the tail the log cleaner has not reached; reading it costs what the dossiers cost, not what
their events did. Each partition of the lifecycle and portal-sync topics is read by its own
consumer, in a pool of worker processes (parsing is most of the CPU), up to the end offsets taken
at the start; each worker keeps the newest state per dossier of its batches, as the live
consumer does, and COPYs the rows into unlogged staging tables. Then, in one transaction: the newest
row per dossier into the facts, the rollups built from the facts (a GROUP BY, not per batch), and
the consumer offsets set to those end offsets, so the metrics service carries on from there.
Run it with the metrics service stopped (or on a schema no service uses yet).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text

from services.metrics.config import MetricsSettings
from services.metrics.handlers import ACCEPTS, FACT_COLUMNS, SYNC_COLUMNS, fold_messages
from services.metrics.rollups import rebuild_rollups
from shared.consumer import Message, decode
from shared.db import make_engine, make_sessionmaker
from shared.migrations import prepare_schema
from shared.topics import Topics


def fold(records: list) -> tuple[dict[str, dict], dict[str, dict], int]:
    """As the live consumer and handlers.fold_messages: the same parsing, the same refusals."""
    decoded = [decode(r, ACCEPTS, "metrics") for r in records]
    messages = [m for m in decoded if isinstance(m, Message)]
    facts, synced = fold_messages(messages)
    return facts, synced, len(decoded) - len(messages)


STAGING = {"rebuild_facts": ("dossier_facts", FACT_COLUMNS), "rebuild_synced": ("portal_sync_facts", SYNC_COLUMNS)}
FETCH = 8 * 1024 * 1024
BATCH = 20_000  # records folded and copied at a time


def dsn(settings: MetricsSettings) -> str:
    return settings.database_url.replace("postgresql+asyncpg://", "postgresql://")


async def _read_partition(settings: MetricsSettings, topic: str, partition: int, end: int) -> dict:
    """Read one partition from its start to `end`; COPY the newest facts of each batch."""
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=FETCH,
        fetch_max_bytes=FETCH,
    )
    conn = await asyncpg.connect(dsn(settings), server_settings={"search_path": settings.db_schema})
    await consumer.start()
    read = rejected = copied = 0
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        pending = []
        while (await consumer.position(tp)) < end:
            batches = await consumer.getmany(tp, timeout_ms=1000, max_records=BATCH)
            pending += [r for r in batches.get(tp, []) if r.offset < end]
            if len(pending) >= BATCH or (pending and await consumer.position(tp) >= end):
                facts, synced, refused = fold(pending)
                read, rejected = read + len(pending), rejected + refused
                for table, rows in (("rebuild_facts", facts), ("rebuild_synced", synced)):
                    columns = STAGING[table][1]
                    if rows:
                        await conn.copy_records_to_table(
                            table, records=[tuple(r[c] for c in columns) for r in rows.values()], columns=columns
                        )
                        copied += len(rows)
                pending = []
    finally:
        await consumer.stop()
        await conn.close()
    return {"topic": topic, "partition": partition, "read": read, "rejected": rejected, "copied": copied}


def _worker(settings_json: str, topic: str, partition: int, end: int) -> dict:
    settings = MetricsSettings.model_validate_json(settings_json)
    return asyncio.run(_read_partition(settings, topic, partition, end))


async def end_offsets(settings: MetricsSettings, topics: list[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or [])]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or [])]
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def rebuild(settings: MetricsSettings, *, replace: bool = False, workers: int | None = None) -> dict:
    """Rebuild settings.db_schema's facts and rollups from the topics; returns what was done."""
    started = time.perf_counter()
    topics = Topics(settings.topic_prefix)
    group = settings.consumer_group or f"{settings.topic_prefix}metrics"
    engine = make_engine(settings.database_url, settings.db_schema)
    await prepare_schema(engine, settings.db_schema, "metrics")  # as the service would: at head
    conn = await asyncpg.connect(dsn(settings), server_settings={"search_path": settings.db_schema})
    try:
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM dossier_facts)") and not replace:
            raise SystemExit(f"{settings.db_schema}.dossier_facts is not empty; --replace to rebuild it anyway")
        for staging, (table, _) in STAGING.items():
            await conn.execute(
                f"DROP TABLE IF EXISTS {staging}; CREATE UNLOGGED TABLE {staging} (LIKE {table} INCLUDING DEFAULTS)"
            )
        ends = await end_offsets(settings, [topics.lifecycle, topics.portal_sync])
        jobs = sorted(ends.items(), key=lambda item: -item[1])  # the longest partitions first
        loop = asyncio.get_running_loop()
        settings_json = settings.model_dump_json()
        # spawn, not fork: the parent holds an event loop and open connections.
        with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 2, mp_context=get_context("spawn")) as pool:
            partitions = await asyncio.gather(
                *(
                    loop.run_in_executor(pool, _worker, settings_json, tp.topic, tp.partition, end)
                    for tp, end in jobs
                    if end > 0
                )
            )
        read_seconds = time.perf_counter() - started
        async with make_sessionmaker(engine)() as session, session.begin():
            if replace:
                await session.execute(text("TRUNCATE dossier_facts, portal_sync_facts"))
            for staging, (table, columns) in STAGING.items():
                names = ", ".join(columns)
                await session.execute(
                    text(
                        f"INSERT INTO {table} ({names}) SELECT DISTINCT ON (dossier_code) {names} FROM {staging} "
                        "ORDER BY dossier_code, revision DESC"
                    )
                )
            await rebuild_rollups(session)
            await session.execute(
                text(
                    "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) "
                    "SELECT :g, t, p, o FROM unnest(CAST(:t AS text[]), CAST(:p AS int[]), CAST(:o AS bigint[])) "
                    "AS x(t, p, o) "
                    "ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset"
                ),
                {
                    "g": group,
                    "t": [tp.topic for tp in ends],
                    "p": [tp.partition for tp in ends],
                    "o": list(ends.values()),
                },
            )
            for staging in STAGING:
                await session.execute(text(f"DROP TABLE {staging}"))
        dossiers = await conn.fetchval("SELECT count(*) FROM dossier_facts")
    finally:
        await conn.close()
        await engine.dispose()
    return {
        "dossiers": dossiers,
        "messages": sum(p["read"] for p in partitions),
        "rejected": sum(p["rejected"] for p in partitions),
        "partitions": len(partitions),
        "read_seconds": round(read_seconds, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replace", action="store_true", help="rebuild even if the facts table holds rows")
    parser.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    args = parser.parse_args()
    result = asyncio.run(rebuild(MetricsSettings(), replace=args.replace, workers=args.workers))
    print(json.dumps(result), file=sys.stdout)


if __name__ == "__main__":
    main()
