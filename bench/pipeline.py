"""The services as processes: intake throughput over HTTP and end-to-end throughput until complete."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.baselines import summarize
from bench.procstats import CpuMeter, memory_kib
from bench.workload import DATABASE_URL, KAFKA, Run
from deploy.launch import SERVICES, Service, Stack, free_port
from deploy.quiescence import InFlight, wait_until_quiet

JSON = {"content-type": "application/json"}


@dataclass
class BenchStack(Stack):
    """deploy.launch's Stack plus per-service extra environment (e.g. a consumer group)."""

    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)

    def env(self, service: Service) -> dict[str, str]:
        return super().env(service) | self.extra_env.get(service.name, {})

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.processes.items() if p.poll() is None}

    def headers(self) -> dict[str, str]:
        """intake's auth header, when this commit's launcher provisions an API key."""
        key = getattr(self, "api_key", None)
        return {"X-API-Key": key} if key else {}

    def memory(self) -> dict[str, dict[str, int]]:
        return {name: memory_kib(pid) for name, pid in self.pids().items()}


def make_stack(run: Run, run_dir: Path) -> BenchStack:
    return BenchStack(
        run_dir=run_dir,
        database_url=DATABASE_URL,
        kafka_bootstrap=KAFKA,
        topic_prefix=run.topics.prefix,
        schema_prefix=run.schemas,
        ports={s.name: free_port() for s in SERVICES},
    )


async def post(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    """POST a batch; a 429 (intake's per-key rate limit) waits its Retry-After and tries again."""
    for _ in range(20):
        response = await client.post("/v1/events/batch", content=body, headers=JSON)
        if response.status_code != 429:
            return response
        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
    return response


async def post_all(intake_url: str, bodies: list[bytes], concurrency: int, headers: dict[str, str]) -> dict:
    """Post every body as fast as `concurrency` clients can; latency of each request."""
    latencies: list[float] = []
    accepted = 0
    queue = iter(bodies)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=intake_url, timeout=120, limits=limits, headers=headers) as client:

        async def client_loop() -> None:
            nonlocal accepted
            for body in queue:  # shared by the clients: each takes the next batch
                sent = time.perf_counter()
                response = await post(client, body)
                latencies.append(time.perf_counter() - sent)
                if response.status_code != 200:
                    raise RuntimeError(f"intake answered {response.status_code}: {response.text[:300]}")
                accepted += response.json()["accepted"]

        started = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        finished = time.perf_counter()
    return {"started": started, "finished": finished, "accepted": accepted, "latency": summarize(latencies)}


async def wait_until_complete(db: AsyncEngine, run: Run, dossiers: int, *, timeout: float) -> tuple[float, float]:
    """Quiet (deploy.quiescence) and complete: metrics holds every dossier, each with its newest
    revision confirmed by the portal sync. sync delivers from its own backlog after consuming,
    which the quiescence check does not see. Returns when each first held: (quiet, complete)."""
    deadline = time.perf_counter() + timeout
    metrics = f'"{run.schemas}metrics"'
    missing = (
        f"SELECT count(*) FILTER (WHERE s.revision IS DISTINCT FROM f.revision), count(*) "
        f"FROM {metrics}.dossier_facts f LEFT JOIN {metrics}.portal_sync_facts s USING (dossier_code)"
    )
    first_quiet = None
    while True:
        await wait_until_quiet(db, KAFKA, run.topics, run.schemas, timeout=max(1.0, deadline - time.perf_counter()))
        quiet = time.perf_counter()
        first_quiet = first_quiet or quiet
        async with db.connect() as conn:
            unsynced, facts = (await conn.execute(text(missing))).one()
        if not unsynced and facts >= dossiers:
            return first_quiet, quiet
        if quiet > deadline:
            raise TimeoutError(
                f"not complete after {timeout:.0f} s: {facts} of {dossiers} dossiers in metrics, "
                f"{unsynced} without their newest revision synced"
            )
        await asyncio.sleep(0.1)


async def intake_and_end_to_end(
    stack: BenchStack,
    run: Run,
    db: AsyncEngine,
    bodies: list[bytes],
    events: int,
    *,
    dossiers: int,
    concurrency: int,
    quiet_timeout: float,
) -> dict:
    """Post the whole workload (figure 2), then wait until the pipeline is quiet (figure 3)."""
    meter = CpuMeter(stack.pids() | {"bench": os.getpid()})
    meter.start()
    samples: list[tuple[float, dict[str, int]]] = []
    sampler = asyncio.create_task(sample_in_flight(db, run, time.perf_counter(), samples))
    try:
        posted = await post_all(stack.url("intake"), bodies, concurrency, stack.headers())
        intake_cpu = meter.stop(posted["finished"] - posted["started"])
        first_quiet, quiet = await wait_until_complete(db, run, dossiers, timeout=quiet_timeout)
    finally:
        sampler.cancel()
    async with httpx.AsyncClient(timeout=10) as client:  # the calls that decide the end (bench/README)
        portal = (await client.get(stack.url("portal-simulator") + "/health")).json()
    if posted["accepted"] != events:
        raise RuntimeError(f"intake accepted {posted['accepted']} of {events} events")
    intake_s = posted["finished"] - posted["started"]
    e2e_s = quiet - posted["started"]
    return {
        "intake": {
            "events": events,
            "seconds": round(intake_s, 3),
            "per_second": events / intake_s,
            "batch_latency": posted["latency"],
            "concurrency": concurrency,
            "cpu": intake_cpu,
        },
        "end_to_end": {
            "events": events,
            "seconds": round(e2e_s, 3),
            "per_second": events / e2e_s,
            "drain_after_intake_seconds": round(quiet - posted["finished"], 3),
            "quiescence_only_seconds": round(first_quiet - posted["started"], 3),
            "cpu": meter.stop(e2e_s),
            "in_flight": in_flight_summary(samples),
            # Second by second, for reading where a run's time went (results.json only).
            "in_flight_series": [(round(at, 1), pending) for at, pending in samples],
            "portal": {"calls": portal.get("calls"), "verdicts": portal.get("verdicts")},
        },
    }


async def sample_in_flight(
    db: AsyncEngine, run: Run, started: float, samples: list[tuple[float, dict[str, int]]]
) -> None:
    """Until cancelled, once a second: what each stage has in flight (seconds since `started`).
    The stage whose queue empties last is the one that sets the end-to-end time. Each sample
    counts rows (deploy/quiescence.py), which costs the database it measures: once a second."""
    async with InFlight(db, KAFKA, run.topics, run.schemas) as in_flight:
        while True:
            samples.append((time.perf_counter() - started, await in_flight.pending()))
            await asyncio.sleep(1.0)


def in_flight_summary(samples: list[tuple[float, dict[str, int]]]) -> dict[str, dict]:
    """Per queue: its peak, when it peaked, and when it was last seen non-empty (seconds)."""
    out: dict[str, dict] = {}
    for at, pending in samples:
        for queue, count in pending.items():
            q = out.setdefault(queue, {"peak": 0, "peak_at": 0.0, "last_seen_at": 0.0})
            if count > q["peak"]:
                q["peak"], q["peak_at"] = count, round(at, 1)
            q["last_seen_at"] = round(at, 1)
    return dict(sorted(out.items(), key=lambda item: item[1]["last_seen_at"]))
