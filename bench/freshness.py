"""Freshness: event accepted by intake → its dossier visible in metrics, at a steady rate.

Method. New dossiers' `dossier.received` events are posted open-loop on a fixed schedule
(`batch` events every batch/rate seconds, each POST its own task, so a slow answer never delays
the next one). An event's acceptance time is when intake's answer arrived. A poller reads
metrics' own table (`<schema>metrics.dossier_facts`, which GET /v1/indicators aggregates on
every request, so a row there is exactly what the API shows) for the dossier codes still
waiting, every `poll` seconds; a code's visibility time is the start of the first query that
returned it (the query's snapshot is taken then), so the figure is an upper bound that is at most
one poll interval plus one query late. The interval stretches to twice the last query's duration
when many codes are waiting, so the watcher never loads the database it is measuring much; the
median interval is reported.

Where the time goes: each hop's share comes from the Kafka timestamps (the producer's send time)
of the dossier's first message on dossier-events (intake's relay) and on dossier-lifecycle
(processing's relay): accepted → intake relay sent → processing relay sent → visible in metrics.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.baselines import summarize
from bench.pipeline import post
from bench.workload import DATABASE_URL, KAFKA, PARTITIONS, batch_bodies
from shared.topics import Topics


async def freshness(
    intake_url: str,
    headers: dict[str, str],
    metrics_schema: str,
    topics: Topics,
    events: list[dict],
    *,
    rate: float,
    batch: int,
    poll: float = 0.02,
    settle: float = 30,
) -> dict:
    bodies = batch_bodies(events, batch)
    codes = [[e["subject"] for e in events[i : i + batch]] for i in range(0, len(events), batch)]
    accepted_at: dict[str, float] = {}
    seen_at: dict[str, float] = {}
    waiting: set[str] = set()
    polls: list[float] = []
    sending_done = asyncio.Event()
    conn = await asyncpg.connect(DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://"))
    query = f'SELECT dossier_code FROM "{metrics_schema}".dossier_facts WHERE dossier_code = ANY($1::text[])'

    async def watch() -> None:
        deadline = None
        while not sending_done.is_set() or waiting:
            if sending_done.is_set():
                deadline = deadline or time.perf_counter() + settle
                if time.perf_counter() > deadline:
                    return
            took = 0.0
            if waiting:
                asked = time.perf_counter()
                for row in await conn.fetch(query, list(waiting)):
                    seen_at[row[0]] = asked
                    waiting.discard(row[0])
                took = time.perf_counter() - asked
                polls.append(asked)
            # At most a third of one database connection's time goes to watching, even with a long queue.
            await asyncio.sleep(max(poll, 2 * took))

    async with httpx.AsyncClient(base_url=intake_url, timeout=60, headers=headers) as client:

        async def send(index: int, started: float) -> None:
            delay = started + index * batch / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            waiting.update(codes[index])
            response = await post(client, bodies[index])
            answered = time.perf_counter()
            if response.status_code != 200 or response.json()["accepted"] != len(codes[index]):
                raise RuntimeError(f"intake answered {response.status_code}: {response.text[:300]}")
            accepted_at.update(dict.fromkeys(codes[index], answered))

        watcher = asyncio.create_task(watch())
        try:
            started = time.perf_counter()
            await asyncio.gather(*(send(i, started) for i in range(len(bodies))))
            sent_for = time.perf_counter() - started
            sending_done.set()
            await watcher
        finally:
            watcher.cancel()
            await conn.close()
    hops = await _hops(topics, accepted_at, seen_at, wall_offset=time.time() - time.perf_counter())
    in_order = [c for cs in codes for c in cs]
    latencies = [max(0.0, seen_at[c] - accepted_at[c]) for c in in_order if c in seen_at and c in accepted_at]
    fifth = max(1, len(latencies) // 5)
    return {
        "events": len(events),
        "target_rate": rate,
        "achieved_rate": len(accepted_at) / sent_for,
        "batch": batch,
        "poll_seconds": poll,
        "poll_interval_p50": summarize([b - a for a, b in zip(polls, polls[1:], strict=False)])["p50"],
        "never_visible": len(accepted_at) - len(latencies),
        "latency": summarize(latencies),
        # A p50 that grows from the first to the last fifth means a queue builds: the rate is above capacity.
        "p50_first_fifth": summarize(latencies[:fifth])["p50"],
        "p50_last_fifth": summarize(latencies[-fifth:])["p50"],
        "hops": hops,
    }


async def _first_sent(topic: str, wanted: set[str]) -> dict[str, float]:
    """Each wanted dossier's first message time on the topic (epoch seconds), read from the start."""
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False)
    await consumer.start()
    first: dict[str, float] = {}
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for rs in batches.values():
                for r in rs:
                    code = (r.key or b"").decode()
                    if code in wanted and code not in first:
                        first[code] = r.timestamp / 1000
            if all([await consumer.position(tp) >= end for tp, end in ends.items()]):
                return first
    finally:
        await consumer.stop()


async def _hops(topics: Topics, accepted_at: dict, seen_at: dict, wall_offset: float) -> dict:
    codes = {c for c in accepted_at if c in seen_at}
    intake_sent = await _first_sent(topics.dossier_events, codes)
    state_sent = await _first_sent(topics.lifecycle, codes)
    done = [c for c in codes if c in intake_sent and c in state_sent]
    return {
        "accepted → intake relay sent": summarize([intake_sent[c] - accepted_at[c] - wall_offset for c in done]),
        "→ processing relay sent state": summarize([state_sent[c] - intake_sent[c] for c in done]),
        "→ visible in metrics": summarize([seen_at[c] + wall_offset - state_sent[c] for c in done]),
    }
