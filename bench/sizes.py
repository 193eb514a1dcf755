"""The measured inputs of docs/capacity.md: messages and bytes per dossier on each topic (on the
wire and in the broker's log segments) and rows and bytes per dossier in each service's schema.

    .venv/bin/python -m bench.sizes --dossiers 2000 --kafka-data var/kafka/data

Runs the five services (deploy.launch.Stack) on the broker and database of bench/workload.py with
its own topics and schemas, posts realistic dossiers (the bench's workload: every event that has
already happened for dossiers received in the last 30 days), waits until the pipeline is quiet,
measures, and removes everything it created. Log-segment bytes are read from the broker's data
directory (--kafka-data; the broker must be local).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.pipeline import make_stack
from bench.workload import DATABASE_URL, KAFKA, PARTITIONS, Run, Workload, batch_bodies
from deploy.quiescence import wait_until_quiet
from shared.topics import ensure_topics

ROOT = Path(__file__).resolve().parents[1]


async def topic_bytes(topic: str) -> dict:
    """Messages and bytes (key + value) on the wire, read to the end offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        count = size = 0
        while any([await consumer.position(tp) < end for tp, end in ends.items()]):
            for records in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                count += len(records)
                size += sum(len(r.value or b"") + len(r.key or b"") for r in records)
        return {"messages": count, "wire_bytes": size}
    finally:
        await consumer.stop()


async def measure(dossiers: int, kafka_data: Path) -> dict:
    run = Run()
    events = Workload().history(dossiers)
    db = create_async_engine(DATABASE_URL)
    stack = make_stack(run, ROOT / "var" / "bench" / run.id)
    try:
        await ensure_topics(KAFKA, run.topics, PARTITIONS)
        await asyncio.to_thread(stack.start_all)
        async with httpx.AsyncClient(base_url=stack.url("intake"), timeout=120, headers=stack.headers()) as client:
            for body in batch_bodies(events, 500):
                response = await client.post(
                    "/v1/events/batch", content=body, headers={"Content-Type": "application/json"}
                )
                assert response.status_code == 200, response.text[:300]
        await wait_until_quiet(db, KAFKA, run.topics, run.schemas, timeout=600)
        await asyncio.sleep(2)  # the broker's log segments are written through the page cache at once
        result = {
            "dossiers": dossiers,
            "events": len(events),
            "posted_bytes_per_event": round(
                sum(len(json.dumps(e, ensure_ascii=False).encode()) for e in events) / len(events)
            ),
            "topics": {},
            "tables": {},
        }
        for topic in run.topics.all():
            t = await topic_bytes(topic)
            disk = sum(f.stat().st_size for p in range(PARTITIONS) for f in (kafka_data / f"{topic}-{p}").glob("*.log"))
            result["topics"][topic.removeprefix(run.topics.prefix)] = t | {
                "disk_bytes": disk,
                "per_dossier": round(t["messages"] / dossiers, 2),
                "wire_bytes_per_message": round(t["wire_bytes"] / max(1, t["messages"])),
                "disk_bytes_per_message": round(disk / max(1, t["messages"])),
            }
        async with db.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT n.nspname AS schema, c.relname AS name, pg_total_relation_size(c.oid) AS bytes, "
                    "c.reltuples AS estimate FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname LIKE :p AND c.relkind = 'r'"
                ),
                {"p": run.schemas + "%"},
            )
            for r in rows.all():
                count = (await conn.execute(text(f'SELECT count(*) FROM "{r.schema}"."{r.name}"'))).scalar()
                if count:
                    result["tables"][f"{r.schema.removeprefix(run.schemas)}.{r.name}"] = {
                        "rows": count,
                        "bytes": r.bytes,
                        "rows_per_dossier": round(count / dossiers, 2),
                        "bytes_per_dossier": round(r.bytes / dossiers),
                    }
        return result
    finally:
        await asyncio.to_thread(stack.stop_all)
        await run.cleanup(db)
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dossiers", type=int, default=2000)
    parser.add_argument("--kafka-data", type=Path, default=ROOT / "var" / "kafka" / "data")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.dossiers, args.kafka_data)), indent=2))


if __name__ == "__main__":
    main()
