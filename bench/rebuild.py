"""Rebuilding the metrics projection from the topics with a fresh process, schema and group."""

from __future__ import annotations

import asyncio
import time
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
    ends = await _end_offsets(partitions)
    messages = sum(ends.values())
    raw = await raw_consume(partitions, messages, timeout=timeout)
    # For comparison only (the baseline is the raw consume): reading + parsing, the floor
    # under any rebuild that looks inside the messages.
    parsed = await raw_consume(partitions, messages, timeout=timeout, parse=True)
    stack = BenchStack(
        run_dir=run_dir,
        database_url=DATABASE_URL,
        kafka_bootstrap=KAFKA,
        topic_prefix=run.topics.prefix,
        schema_prefix=run.rebuild_schemas,
        ports=ports | {"metrics": free_port()},  # the others' URLs stay
        extra_env={"metrics": {"METRICS_CONSUMER_GROUP": f"{run.id}.metrics-rebuild"}},
    )
    conn = await asyncpg.connect(DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://"))
    schema = f"{run.rebuild_schemas}metrics"
    try:
        started = time.perf_counter()
        stack.start("metrics")
        first_commit, first_stored = None, 0
        while True:
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"metrics rebuild not caught up after {timeout:.0f} s")
            if stack.processes["metrics"].poll() is not None:
                raise RuntimeError(f"rebuild metrics exited; see {run_dir}/metrics.log")
            try:
                rows = await conn.fetch(f'SELECT topic, partition, next_offset FROM "{schema}".consumer_offsets')
            except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
                rows = []
            stored = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
            if stored and first_commit is None:
                first_commit, first_stored = time.perf_counter(), sum(stored.values())
            if sum(end - stored.get(tp, 0) for tp, end in ends.items()) == 0:
                break
            await asyncio.sleep(0.05)
        caught_up = time.perf_counter()
        memory = stack.memory()["metrics"]
        rebuilt = await conn.fetchval(f'SELECT count(*) FROM "{schema}".dossier_facts')
        original = await conn.fetchval(f'SELECT count(*) FROM "{run.schemas}metrics".dossier_facts')
    finally:
        await conn.close()
        await asyncio.to_thread(stack.stop_all)
    total = caught_up - started
    consuming = caught_up - (first_commit or started)
    return {
        "messages": messages,
        "raw_consume": raw,
        "raw_consume_and_parse": parsed,
        "seconds": round(total, 3),
        "per_second": messages / total,
        "start_up_seconds": round((first_commit or caught_up) - started, 3),
        "per_second_after_first_commit": (messages - first_stored) / consuming if consuming > 0 else None,
        "facts_rebuilt": rebuilt,
        "facts_original": original,
        "memory_kib": memory,
    }
