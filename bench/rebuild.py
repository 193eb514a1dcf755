"""Rebuilding the metrics projection from the topics with a fresh process, schema and group."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.baselines import raw_consume
from bench.pipeline import BenchStack
from bench.workload import DATABASE_URL, KAFKA, Run
from deploy.launch import free_port
from deploy.quiescence import CONSUMES, _partitions


async def _end_offsets(partitions: list[TopicPartition]) -> dict[tuple[str, int], int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA)
    await consumer.start()
    try:
        return {(tp.topic, tp.partition): end for tp, end in (await consumer.end_offsets(partitions)).items()}
    finally:
        await consumer.stop()


async def rebuild_metrics(run: Run, run_dir: Path, ports: dict[str, int], timeout: float) -> dict:
    """Start metrics on new schemas and a new consumer group; time until its lag is 0. The
    baseline: a raw consumer reading the very same messages, just before."""
    partitions = await _partitions(KAFKA, CONSUMES["metrics"](run.topics))
    messages = sum((await _end_offsets(partitions)).values())
    raw = await raw_consume(partitions, messages, timeout=timeout)
    # For comparison only (the baseline is the raw consume): reading + parsing, the floor
    # under any rebuild that looks inside the messages.
    parsed = await raw_consume(partitions, messages, timeout=timeout, parse=True)

    async def facts(conn: asyncpg.Connection, schema: str) -> dict:
        return {
            "facts_rebuilt": await conn.fetchval(f'SELECT count(*) FROM "{schema}".dossier_facts'),
            "facts_original": await conn.fetchval(f'SELECT count(*) FROM "{run.schemas}metrics".dossier_facts'),
        }

    caught_up = await _catch_up(run, run_dir, ports, "metrics", {}, timeout, facts)
    return {"raw_consume": raw, "raw_consume_and_parse": parsed} | caught_up


async def sync_catch_up(run: Run, run_dir: Path, ports: dict[str, int], timeout: float) -> dict:
    """Start sync on new schemas and a new consumer group: what a restart after an outage reads
    at once, every batch full (its memory is the figure; ~8 s). The portal is left unreachable (a
    free port nobody listens on): the delivery rounds fail at once and back off, so the run
    measures the consumer's catch-up, not a second delivery of every dossier."""
    env = {"SYNC_PORTAL_URL": f"http://127.0.0.1:{free_port()}"}
    return await _catch_up(run, run_dir, ports, "sync", env, timeout)


async def _catch_up(
    run: Run,
    run_dir: Path,
    ports: dict[str, int],
    service: str,
    env: dict[str, str],
    timeout: float,
    more: Callable[[asyncpg.Connection, str], Awaitable[dict]] | None = None,
) -> dict:
    """A fresh instance of `service` (the run's rebuild schemas, a new consumer group) reading its
    topics from the start; times until its stored offsets reach their ends, then its memory (and
    what `more` reads from its schema)."""
    ends = await _end_offsets(await _partitions(KAFKA, CONSUMES[service](run.topics)))
    messages = sum(ends.values())
    prefix = service.upper()
    stack = BenchStack(
        run_dir=run_dir,
        database_url=DATABASE_URL,
        kafka_bootstrap=KAFKA,
        topic_prefix=run.topics.prefix,
        schema_prefix=run.rebuild_schemas,
        ports=ports | {service: free_port()},  # the others' URLs stay
        extra_env={service: {f"{prefix}_CONSUMER_GROUP": f"{run.id}.{service}-rebuild"} | env},
    )
    conn = await asyncpg.connect(DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://"))
    schema = f"{run.rebuild_schemas}{service}"
    try:
        started = time.perf_counter()
        stack.start(service)
        first_commit, first_stored = None, 0
        while True:
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"{service} not caught up after {timeout:.0f} s")
            if stack.processes[service].poll() is not None:
                raise RuntimeError(f"the catching-up {service} exited; see {run_dir}/{service}.log")
            try:
                rows = await conn.fetch(f'SELECT topic, partition, next_offset FROM "{schema}".consumer_offsets')
            except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
                rows = []
            stored = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
            if stored and first_commit is None:
                first_commit, first_stored = time.perf_counter(), sum(stored.values())
            # Every partition at or past its end as taken at the start (a live service may still
            # append to a topic: a sum of the differences could go below zero and never be 0).
            if all(stored.get(tp, 0) >= end for tp, end in ends.items()):
                break
            await asyncio.sleep(0.05)
        caught_up = time.perf_counter()
        memory = stack.memory()[service]
        extra = await more(conn, schema) if more else {}
    finally:
        await conn.close()
        await asyncio.to_thread(stack.stop_all)
    total = caught_up - started
    consuming = caught_up - (first_commit or started)
    return {
        "messages": messages,
        "seconds": round(total, 3),
        "per_second": messages / total,
        "start_up_seconds": round((first_commit or caught_up) - started, 3),
        "per_second_after_first_commit": (messages - first_stored) / consuming if consuming > 0 else None,
        "memory_kib": memory,
    } | extra
