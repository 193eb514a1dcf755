"""Baselines on the same broker and database: raw Kafka produce/consume and a plain SQL bulk insert."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime

import asyncpg
import pydantic_core
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.workload import DATABASE_URL, KAFKA, PARTITIONS
from shared.kafka import make_producer

SQL_CHUNK = 1000  # rows per transaction


async def create_topic(name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=1)])
    finally:
        await admin.close()


async def raw_produce(topic: str, messages: list[tuple[bytes, bytes]]) -> dict:
    """The project's producer settings (idempotent, acks=all), nothing else: messages/s."""
    producer = make_producer(KAFKA)
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return {"messages": len(messages), "seconds": elapsed, "per_second": len(messages) / elapsed}


async def raw_consume(
    topic: str | list[TopicPartition], expected: int, timeout: float = 60, parse: bool = False
) -> dict:
    """Read a topic (or these partitions) from the beginning, as the services' consumers are
    configured: messages/s. With `parse`, each value is also parsed as JSON (pydantic's Rust
    parser, as the services do): the least any consumer that reads the messages must do."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=KAFKA, enable_auto_commit=False, max_partition_fetch_bytes=4 * 1024 * 1024
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)] if isinstance(topic, str) else topic
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen, started = 0, time.perf_counter()
        while seen < expected and time.perf_counter() - started < timeout:
            batches = await consumer.getmany(timeout_ms=200, max_records=1000)
            seen += sum(len(rs) for rs in batches.values())
            if parse:
                for rs in batches.values():
                    for r in rs:
                        pydantic_core.from_json(r.value)
        elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()
    return {"messages": seen, "seconds": elapsed, "per_second": seen / elapsed}


async def raw_latency(topic: str, messages: list[tuple[bytes, bytes]], rate: float) -> dict:
    """Produce → consume latency of the raw broker at a paced rate (the floor under freshness)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False)
    producer = make_producer(KAFKA)
    await consumer.start()
    await producer.start()
    sent: dict[int, float] = {}
    latencies: list[float] = []
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)  # resolve the end offsets before producing

        async def read() -> None:
            while len(latencies) < len(messages):
                batches = await consumer.getmany(timeout_ms=100)
                now = time.perf_counter()
                for rs in batches.values():
                    latencies.extend(now - sent[int(r.headers[0][1])] for r in rs if r.headers)

        reader = asyncio.create_task(read())
        started = time.perf_counter()
        for i, (key, value) in enumerate(messages):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[i] = time.perf_counter()
            await producer.send(topic, value, key=key, headers=[("i", str(i).encode())])
        await asyncio.wait_for(reader, 30)
    finally:
        await producer.stop()
        await consumer.stop()
    return summarize(latencies)


def summarize(latencies: list[float]) -> dict:
    ordered = sorted(latencies)
    if not ordered:
        return {"count": 0, "p50": None, "p99": None, "max": None}

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"count": len(ordered), "p50": pct(0.50), "p99": pct(0.99), "max": ordered[-1]}


async def sql_insert(schema: str, events: list[dict]) -> dict:
    """The same events into a scratch table shaped like intake's, 1,000-row transactions.

    Two plain ways: COPY (the fastest PostgreSQL has) and executemany of an INSERT.
    """
    conn = await asyncpg.connect(DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        rows = [
            (e["id"], e["type"], e["subject"], e["source"], datetime.fromisoformat(e["time"]), json.dumps(e))
            for e in events
        ]
        out = {}
        for method in ("copy", "executemany"):
            table = f'"{schema}".events_{method}'
            await conn.execute(
                f"CREATE TABLE {table} (id text PRIMARY KEY, type text, subject text, "
                "source text, time timestamptz, body jsonb)"
            )
            started = time.perf_counter()
            for i in range(0, len(rows), SQL_CHUNK):
                chunk = rows[i : i + SQL_CHUNK]
                async with conn.transaction():
                    if method == "copy":
                        await conn.copy_records_to_table(f"events_{method}", records=chunk, schema_name=schema)
                    else:
                        await conn.executemany(f"INSERT INTO {table} VALUES ($1, $2, $3, $4, $5, $6::jsonb)", chunk)
            elapsed = time.perf_counter() - started
            out[method] = {"rows": len(rows), "seconds": elapsed, "per_second": len(rows) / elapsed}
        return out
    finally:
        await conn.close()
