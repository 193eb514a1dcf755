"""Chaos: while counter systems post, every service is killed -9 at random moments, the broker
and the database are restarted once each; afterwards metrics hold exactly what intake
acknowledged - nothing lost, nothing counted twice.

Runs on its own private broker and database (tests/chaos/infra.py), never the shared ones.
CI size by default; a longer run with e.g. CHAOS_DOSSIERS=6000 CHAOS_KILLS=12 (CHAOS_SEED to
replay a schedule). Also checked inside the run: /ready answers 503 naming the stopped
dependency and 200 again after it is back, and a SIGTERM of intake right after an acknowledged
post still delivers those events (the outbox is drained at shutdown).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import threading
import time
from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.launch import SERVICES, Stack
from deploy.quiescence import wait_until_quiet
from services.metrics.handlers import _fact
from services.processing.catalog import load_seed
from services.processing.lifecycle import StoredEvent, fold
from services.processing.workcalendar import load_calendar
from shared.events import parse_event
from shared.topics import Topics, ensure_topics
from shared.units import load_units
from simulators.counter.generator import DossierGenerator
from tests.chaos.infra import PrivateInfra
from tests.conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.chaos]
VN = ZoneInfo("Asia/Ho_Chi_Minh")
DOSSIERS = int(os.environ.get("CHAOS_DOSSIERS", "1500"))
KILLS = int(os.environ.get("CHAOS_KILLS", "4"))
SEED = int(os.environ.get("CHAOS_SEED", str(random.randrange(1 << 30))))
POST_SECONDS = float(os.environ.get("CHAOS_POST_SECONDS", str(max(40, DOSSIERS / 35))))
KILLABLE = ("intake", "processing", "sync", "metrics")
SYNC_ENV = {"SYNC_PORTAL_TIMEOUT_SECONDS": "2", "SYNC_LEASE_SECONDS": "4", "SYNC_BACKOFF_BASE_SECONDS": "0.1",
            "SYNC_BACKOFF_CAP_SECONDS": "2", "SYNC_BREAKER_MAX_COOL_DOWN_SECONDS": "2"}


@pytest.fixture
def infra(tmp_path):
    private = PrivateInfra(var=tmp_path / "var", kafka_port=free_port(), controller_port=free_port(),
                           pg_port=free_port())
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
    running = Stack(run_dir=tmp_path / "run", database_url=infra.database_url, kafka_bootstrap=infra.bootstrap,
                    ports={s.name: free_port() for s in SERVICES})
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

async def post_until_acknowledged(client: httpx.AsyncClient, chunk: list[dict], acked: dict, deadline: float) -> None:
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
            return
        retry = float(response.headers.get("Retry-After", "0.3")) if response.status_code == 429 else 0.3
        await asyncio.sleep(retry)
    raise TimeoutError("intake never acknowledged a batch")


async def post_paced(url: str, api_key: str, events: list[dict], acked: dict, *, seconds: float, batch: int = 100):
    chunks = [events[i : i + batch] for i in range(0, len(events), batch)]
    started = time.monotonic()
    deadline = started + seconds + 240
    async with httpx.AsyncClient(base_url=url, timeout=15, headers={"X-API-Key": api_key}) as client:
        for i, chunk in enumerate(chunks):
            delay = started + i * seconds / len(chunks) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await post_until_acknowledged(client, chunk, acked, deadline)


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


def run_chaos(stack: Stack, infra: PrivateInfra, steps: list[str], rng: random.Random, spread: float,
              journal: list, stop: threading.Event) -> None:
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
            infra.run("kafka.sh", "stop")
            unready = expect_unready(stack, rng.choice(KILLABLE), "broker")
            infra.run("kafka.sh", "start")
            wait_all_ready(stack)
            journal.append(("ready 503 while the broker was down", unready["failures"]))
        else:
            infra.run("postgres.sh", "stop")
            unready = expect_unready(stack, rng.choice(KILLABLE), "database")
            infra.run("postgres.sh", "start")
            wait_all_ready(stack)
            journal.append(("ready 503 while the database was down", unready["failures"]))
        journal.append((step, round(time.monotonic() - began, 1)))


# --- the reference: what intake acknowledged, folded with the pure fold ---------------------------

async def expected_states(db, acked: dict[str, dict]) -> dict:
    """Each acknowledged dossier folded from its acknowledged events (plus the overdue timer's
    synthetic events, which processing adds to open dossiers whose deadline passed)."""
    catalog, calendar = load_seed(), load_calendar()
    by_dossier: dict[str, list[StoredEvent]] = defaultdict(list)
    for e in map(parse_event, acked.values()):
        by_dossier[e.subject].append(StoredEvent(e.id, e.type, e.time, e.data))
    async with db.connect() as conn:
        query = text("SELECT id, dossier_code, type, time, data, source FROM processing.dossier_events")
        stored = (await conn.execute(query)).all()
    synthetic = [r for r in stored if r.source == "processing-timer"]
    assert {r.type for r in synthetic} <= {"dossier.deadline_passed"}
    # No loss, no phantom: processing holds exactly the acknowledged events (besides its timer's).
    assert {r.id for r in stored if r.source != "processing-timer"} == set(acked)
    for r in synthetic:
        by_dossier[r.dossier_code].append(StoredEvent(r.id, r.type, r.time, r.data))
    states = {code: fold(code, evs, procedure=catalog.get, calendar=calendar) for code, evs in by_dossier.items()}
    return {code: s for code, s in states.items() if s is not None}


async def check_metrics(stack: Stack, db, states: dict) -> dict:
    async with db.connect() as conn:
        facts = (await conn.execute(text("SELECT * FROM metrics.dossier_facts"))).all()
        rows = {r.dossier_code: r._mapping for r in facts}
    assert set(rows) == set(states), f"{len(set(states) - set(rows))} missing, {len(set(rows) - set(states))} extra"
    wrong = []
    for code, state in states.items():
        want = _fact(state)
        have = {k: rows[code][k] for k in want}
        if have != want:
            wrong.append((code, {k: (have[k], want[k]) for k in want if have[k] != want[k]}))
    assert not wrong, f"{len(wrong)} dossiers differ from the fold of what intake acknowledged: {wrong[:3]}"
    # The province's counts for August, recomputed from the folds.
    start, end = datetime(2026, 8, 1, tzinfo=VN), datetime(2026, 9, 1, tzinfo=VN)
    august = [f for f in map(_fact, states.values()) if f["received_at"] and start <= f["received_at"] < end]
    async with httpx.AsyncClient(timeout=30) as client:
        report = (await client.get(stack.url("metrics") + "/v1/indicators", params={"period": "2026-08"})).json()
    unit = report["unit"]
    rates = unit.get("rates") or unit["indicators"]
    got = {k: (rates[k]["numerator"], rates[k]["denominator"])
           for k in ("online_rate", "digitization_rate", "sync_rate")}
    received = len(august)
    assert got == {"online_rate": (sum(f["channel"] == 2 for f in august), received),
                   "digitization_rate": (sum(bool(f["digitized"]) for f in august), received),
                   "sync_rate": (received, received)}, got
    return got


async def consumer_dead_letters(bootstrap: str) -> list[dict]:
    consumer = AIOKafkaConsumer(Topics("").dead_letter, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=3000, max_records=10_000)
        letters = [json.loads(r.value) for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    return [d for d in letters if "offset" in d]  # records a consumer could not apply (not anomalies)


async def test_kills_and_restarts_under_load_lose_nothing_and_count_nothing_twice(stack, infra):
    rng = random.Random(SEED)
    events = august_events(DOSSIERS)
    tail = events[-200:]  # posted last, then intake gets a SIGTERM right after the acknowledgement
    steps = plan(rng)
    print(f"chaos seed {SEED}: {DOSSIERS} dossiers, {len(events)} events over ~{POST_SECONDS:.0f}s; plan {steps}")
    acked: dict[str, dict] = {}
    journal: list = []
    stop = threading.Event()
    db = create_async_engine(infra.database_url)
    started = time.monotonic()
    chaos = asyncio.create_task(asyncio.to_thread(run_chaos, stack, infra, steps, rng, POST_SECONDS, journal, stop))
    try:
        await post_paced(stack.url("intake"), stack.api_key, events[:-200], acked, seconds=POST_SECONDS)
        await chaos  # re-raises what went wrong in the schedule (e.g. a service that never got ready)
        posted = time.monotonic()

        # Graceful shutdown: SIGTERM right after an acknowledged post; the outbox is drained.
        intake = stack.processes["intake"]
        await post_paced(stack.url("intake"), stack.api_key, tail, acked, seconds=0, batch=200)
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
        states = await expected_states(db, acked)
        rates = await check_metrics(stack, db, states)
        assert await consumer_dead_letters(infra.bootstrap) == []
    finally:
        stop.set()
        if not chaos.done():  # let the schedule finish its step (never leave a restart half done)
            await asyncio.wait([chaos], timeout=300)
        await db.dispose()
    print(f"chaos seed {SEED}: {len(acked)} events of {len(states)} dossiers acknowledged; posting and chaos "
          f"{posted - started:.0f}s, quiet {quiet - posted:.0f}s later; steps {journal}; August {rates}")
