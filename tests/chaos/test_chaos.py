"""Chaos: while counter systems post, every service is killed -9 at seeded moments, the broker
and the database are crashed (SIGKILL) and started again once each, and the portal simulator
stores some calls and then fails them (500, or a hang then 504); afterwards the system holds
exactly what folding the *generated* events gives (tests/chaos/truth.py): every valid event
acknowledged, processing's events, metrics' facts and the province's counts, the portal's final
statuses and histories, no consumer failure in the dead-letter topic read to its end.

Runs on its own private broker and database (tests/chaos/infra.py), never the shared ones.
CI size and a fixed seed by default (printed; CHAOS_SEED to change it); a longer run with e.g.
CHAOS_DOSSIERS=6000 CHAOS_KILLS=12. CHAOS_INJECT_LOSS=1 makes processing drop one record: the
test must then fail. Also checked inside the run: /ready answers 503 naming the crashed
dependency and 200 again after it is back, and a SIGTERM of intake right after an acknowledged
post still delivers those events (the outbox is drained at shutdown).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.launch import SERVICES, Stack
from deploy.quiescence import wait_until_quiet
from services.metrics.handlers import _fact
from shared.topics import Topics, ensure_topics
from shared.units import load_units
from simulators.counter.generator import DossierGenerator
from tests.chaos import truth as check
from tests.chaos.infra import PrivateInfra
from tests.conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.chaos]
VN = ZoneInfo("Asia/Ho_Chi_Minh")
DOSSIERS = int(os.environ.get("CHAOS_DOSSIERS", "1500"))
KILLS = int(os.environ.get("CHAOS_KILLS", "4"))
SEED = int(os.environ.get("CHAOS_SEED", "20260826"))
POST_SECONDS = float(os.environ.get("CHAOS_POST_SECONDS", str(max(40, DOSSIERS / 35))))
KILLABLE = ("intake", "processing", "sync", "metrics")
SYNC_ENV = {
    "SYNC_PORTAL_TIMEOUT_SECONDS": "2",
    "SYNC_LEASE_SECONDS": "6",
    "SYNC_BACKOFF_BASE_SECONDS": "0.1",
    "SYNC_BACKOFF_CAP_SECONDS": "2",
    "SYNC_BREAKER_MAX_COOL_DOWN_SECONDS": "2",
    "SYNC_PORTAL_CHUNK": "25",
}  # many calls, so that the portal's faults surely strike
# The portal stores some calls and then fails them, at once (500) or after hanging past sync's
# timeout (504): sync must send those again, and a re-send may cross a newer revision.
PORTAL_FAULTS = {"stored_fail_ratio": 0.05, "stored_hang_ratio": 0.03, "hang_seconds": 3, "fail_ratio": 0.02}


@pytest.fixture
def infra(tmp_path):
    private = PrivateInfra(
        var=tmp_path / "var", kafka_port=free_port(), controller_port=free_port(), pg_port=free_port()
    )
    try:
        private.up()
        yield private
    finally:
        private.down()


@pytest.fixture
def stack(tmp_path, infra, monkeypatch):
    for name, value in SYNC_ENV.items():
        monkeypatch.setenv(name, value)
    asyncio.run(ensure_topics(infra.bootstrap, Topics(""), partitions=4))
    loss = {"processing": {"FAULT_DROP_ONE": "1"}} if os.environ.get("CHAOS_INJECT_LOSS") == "1" else {}
    running = Stack(
        run_dir=tmp_path / "run",
        database_url=infra.database_url,
        kafka_bootstrap=infra.bootstrap,
        ports={s.name: free_port() for s in SERVICES},
        extra_env=loss,
    )
    try:
        running.start_all()
        yield running
    finally:
        for name in list(running.processes):  # SIGKILL: the private infrastructure goes away anyway
            running.stop(name, signal.SIGKILL)


def august_events(count: int) -> list[dict]:
    generator = DossierGenerator(load_units(), seed=SEED % 1000)
    start, end = datetime(2026, 8, 1, tzinfo=VN), datetime(2026, 8, 29, tzinfo=VN)
    now = datetime.now(VN)
    events = (e for d in generator.dossiers(count, start, end) for e in d if datetime.fromisoformat(e["time"]) <= now)
    return sorted(events, key=lambda e: e["time"])


# --- posting: a counter system that retries until intake acknowledges -----------------------------


async def post_until_acknowledged(
    client: httpx.AsyncClient, chunk: list[dict], acked: dict, deadline: float, refused: dict
) -> None:
    """Re-post the batch until intake answers it (re-posting is idempotent on event ids)."""
    while time.monotonic() < deadline:
        try:
            response = await client.post("/v1/events/batch", json=chunk)
        except httpx.HTTPError:
            await asyncio.sleep(0.3)  # intake is down or restarting
            continue
        if response.status_code in (200, 207, 422):
            for item in response.json()["results"]:
                if item["status"] in ("accepted", "duplicate"):
                    acked[chunk[item["index"]]["id"]] = chunk[item["index"]]
                else:  # a valid event refused: the test fails on it (never drops it from the truth)
                    refused[chunk[item["index"]]["id"]] = str(item)[:300]
            return
        retry = float(response.headers.get("Retry-After", "0.3")) if response.status_code == 429 else 0.3
        await asyncio.sleep(retry)
    raise TimeoutError("intake never acknowledged a batch")


async def post_paced(
    url: str, api_key: str, events: list[dict], acked: dict, refused: dict, *, seconds: float, batch: int = 100
):
    chunks = [events[i : i + batch] for i in range(0, len(events), batch)]
    started = time.monotonic()
    deadline = started + seconds + 240
    async with httpx.AsyncClient(base_url=url, timeout=15, headers={"X-API-Key": api_key}) as client:
        for i, chunk in enumerate(chunks):
            delay = started + i * seconds / len(chunks) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await post_until_acknowledged(client, chunk, acked, deadline, refused)


# --- the chaos schedule (a thread: the launcher and the deploy scripts are blocking) -------------


def plan(rng: random.Random) -> list[str]:
    kills = [KILLABLE[i % len(KILLABLE)] for i in range(KILLS)]
    rng.shuffle(kills)
    steps = kills[:]
    for outage in ("broker", "database"):
        steps.insert(rng.randrange(1, len(steps) + 1), outage)
    return steps


def expect_unready(stack: Stack, service: str, dependency: str, timeout: float = 20) -> dict:
    """/ready must answer 503 naming the stopped dependency."""
    deadline, body = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        try:
            response = httpx.get(stack.url(service) + "/ready", timeout=10)
            body = response.json()
            if response.status_code == 503 and dependency in body.get("failures", {}):
                return body
        except httpx.HTTPError:
            pass
        time.sleep(0.3)  # poll interval, bounded by the deadline
    raise AssertionError(f"{service} /ready did not report {dependency} down within {timeout}s: {body}")


def wait_all_ready(stack: Stack, timeout: float = 120) -> None:
    for name in KILLABLE:
        if name in stack.processes:
            stack.wait_ready(name, timeout)


def run_chaos(
    stack: Stack,
    infra: PrivateInfra,
    steps: list[str],
    rng: random.Random,
    spread: float,
    journal: list,
    stop: threading.Event,
) -> None:
    gap = spread / (len(steps) + 1)
    for step in steps:
        if stop.wait(rng.uniform(0.3, 1.7) * gap):
            return
        began = time.monotonic()
        if step in KILLABLE:
            stack.stop(step, signal.SIGKILL)
            time.sleep(rng.uniform(0.2, 1.5))  # down for a moment while load continues
            stack.start(step)
            stack.wait_ready(step, 120)
        elif step == "broker":
            infra.crash("kafka.sh")
            unready = expect_unready(stack, rng.choice(KILLABLE), "broker")
            infra.run("kafka.sh", "start")
            wait_all_ready(stack)
            journal.append(("ready 503 while the broker was down", unready["failures"]))
        else:
            infra.crash("postgres.sh")
            unready = expect_unready(stack, rng.choice(KILLABLE), "database")
            infra.run("postgres.sh", "start")
            wait_all_ready(stack)
            journal.append(("ready 503 while the database was down", unready["failures"]))
        journal.append((step, round(time.monotonic() - began, 1)))


# --- the province's counts, recomputed from the truth ---------------------------------------------


async def check_indicators(stack: Stack, truth: check.Truth) -> dict:
    start, end = datetime(2026, 8, 1, tzinfo=VN), datetime(2026, 9, 1, tzinfo=VN)
    august = [f for f in map(_fact, truth.states.values()) if f["received_at"] and start <= f["received_at"] < end]
    async with httpx.AsyncClient(timeout=30) as client:
        report = (await client.get(stack.url("metrics") + "/v1/indicators", params={"period": "2026-08"})).json()
    unit = report["unit"]
    rates = unit.get("rates") or unit["indicators"]
    got = {
        k: (rates[k]["numerator"], rates[k]["denominator"]) for k in ("online_rate", "digitization_rate", "sync_rate")
    }
    received = len(august)
    assert got == {
        "online_rate": (sum(f["channel"] == 2 for f in august), received),
        "digitization_rate": (sum(bool(f["digitized"]) for f in august), received),
        "sync_rate": (received, received),
    }, got
    return got


async def test_kills_and_restarts_under_load_lose_nothing_and_count_nothing_twice(stack, infra):
    rng = random.Random(SEED)
    events = august_events(DOSSIERS)
    tail = events[-200:]  # posted last, then intake gets a SIGTERM right after the acknowledgement
    steps = plan(rng)
    print(f"chaos seed {SEED}: {DOSSIERS} dossiers, {len(events)} events over ~{POST_SECONDS:.0f}s; plan {steps}")
    acked: dict[str, dict] = {}
    refused: dict[str, str] = {}
    journal: list = []
    stop = threading.Event()
    db = create_async_engine(infra.database_url)
    async with httpx.AsyncClient(timeout=10) as client:
        (await client.post(stack.url("portal-simulator") + "/admin/faults", json=PORTAL_FAULTS)).raise_for_status()
    started = time.monotonic()
    chaos = asyncio.create_task(asyncio.to_thread(run_chaos, stack, infra, steps, rng, POST_SECONDS, journal, stop))
    try:
        await post_paced(stack.url("intake"), stack.api_key, events[:-200], acked, refused, seconds=POST_SECONDS)
        await chaos  # re-raises what went wrong in the schedule (e.g. a service that never got ready)
        posted = time.monotonic()

        # Graceful shutdown: SIGTERM right after an acknowledged post; the outbox is drained.
        intake = stack.processes["intake"]
        await post_paced(stack.url("intake"), stack.api_key, tail, acked, refused, seconds=0, batch=200)
        await asyncio.to_thread(stack.stop, "intake", signal.SIGTERM)
        # uvicorn re-raises the signal it caught once the graceful shutdown is complete.
        assert intake.returncode in (0, -signal.SIGTERM), f"intake exited with {intake.returncode} on SIGTERM"
        assert "Application shutdown complete" in (stack.run_dir / "intake.log").read_text()
        async with db.connect() as conn:
            left = (await conn.execute(text("SELECT count(*) FROM intake.outbox"))).scalar()
        assert left == 0, f"intake stopped with {left} events still in its outbox"
        # Back up: sync reads the applicants' identity from intake for the portal's records, which
        # wait in sync's backlog meanwhile (docs/security.md).
        stack.start("intake")
        await asyncio.to_thread(stack.wait_ready, "intake")

        await wait_until_quiet(db, infra.bootstrap, Topics(""), "", timeout=180)
        quiet = time.monotonic()
        truth = check.Truth(events)
        check.acknowledged_all(truth, acked, refused)
        async with db.connect() as conn:
            await check.check_processing(conn, "processing", truth)
            await check.check_metrics(conn, "metrics", truth)
        rates = await check_indicators(stack, truth)
        portal = await check.check_portal(stack.url("portal-simulator"), truth)
        letters = check.consumer_failures(await check.read_to_end(infra.bootstrap, Topics("").dead_letter))
        assert not letters, f"{len(letters)} records a consumer could not apply: {letters[:2]}"
        assert {"stored_fail", "stored_hang"} <= set(portal["verdicts"]), f"faults never struck: {portal['verdicts']}"
    finally:
        stop.set()
        if not chaos.done():  # let the schedule finish its step (never leave a restart half done)
            await asyncio.wait([chaos], timeout=300)
        await db.dispose()
    print(
        f"chaos seed {SEED}: {len(acked)} events of {len(truth.states)} dossiers acknowledged; posting and chaos "
        f"{posted - started:.0f}s, quiet {quiet - posted:.0f}s later; steps {journal}; August {rates}; "
        f"portal {portal['verdicts']}"
    )
