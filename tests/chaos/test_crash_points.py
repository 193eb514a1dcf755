"""Aimed crashes: each service is killed -9 inside the window where a crash could lose or double
something, with work in flight, while the counter simulator posts; afterwards the system holds
exactly what folding the generated events gives (tests/chaos/truth.py).

- intake, between the relay's publish and the commit of its outbox delete (the rows go out again);
- processing, between a batch's effects and offsets being written and their commit;
- sync, between the portal's answer and the commit that records it (the portal holds the records,
  sync does not know; the lease runs out and they are sent again).

The crash hook (shared/faultpoints.py) writes "<point> <items in flight>" before the SIGKILL: the
test asserts each kill came from its point, with work in flight. Seeds are fixed (CRASH_SEED to
change, printed); CRASH_INJECT_LOSS=1 makes processing drop one record, and the test must fail.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from deploy.launch import Stack, free_port
from deploy.quiescence import wait_until_quiet
from shared.units import load_units
from simulators.counter.generator import DossierGenerator
from tests.chaos import truth as check
from tests.conftest import DATABASE_URL, KAFKA, poll

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.chaos]
VN = ZoneInfo("Asia/Ho_Chi_Minh")
SEED = int(os.environ.get("CRASH_SEED", "2026"))
DOSSIERS = 300
# Where each service crashes, and at which passage with work in flight (not the first: the
# pipeline is busy by then).
CRASHES = {"intake": ("outbox-published", 3), "processing": ("consumer-applied", 4), "sync": ("portal-answered", 3)}
SYNC_ENV = {
    "SYNC_PORTAL_TIMEOUT_SECONDS": "2",
    "SYNC_LEASE_SECONDS": "3",
    "SYNC_BACKOFF_BASE_SECONDS": "0.1",
    "SYNC_BACKOFF_CAP_SECONDS": "1",
    "SYNC_PORTAL_CHUNK": "20",
}


@pytest.fixture
def crashing_stack(tmp_path, topics, schemas):
    marks = tmp_path / "crashes"
    extra = {
        name: {"FAULT_CRASH_AT": point, "FAULT_CRASH_AFTER": str(after), "FAULT_CRASH_MARK": str(marks)}
        for name, (point, after) in CRASHES.items()
    }
    extra["sync"] |= SYNC_ENV
    if os.environ.get("CRASH_INJECT_LOSS") == "1":
        extra["processing"]["FAULT_DROP_ONE"] = "1"
    stack = Stack(
        run_dir=tmp_path / "run",
        database_url=DATABASE_URL,
        kafka_bootstrap=KAFKA,
        topic_prefix=topics.prefix,
        schema_prefix=schemas,
        extra_env=extra,
    )
    stack.ports = {name: free_port() for name in stack.all_instances()}
    try:
        stack.start_all()
        yield stack, marks
    finally:
        for name in list(stack.processes):
            stack.stop(name, signal.SIGKILL)


def generated(seed: int) -> list[dict]:
    generator = DossierGenerator(load_units(), seed=seed)
    now = datetime.now(VN)  # the generator finishes some dossiers in the future: those events wait
    events = (
        e
        for d in generator.dossiers(DOSSIERS, datetime(2026, 8, 1, tzinfo=VN), datetime(2026, 8, 29, tzinfo=VN))
        for e in d
        if datetime.fromisoformat(e["time"]) <= now
    )
    return sorted(events, key=lambda e: e["time"])


async def post_all(url: str, key: str, events: list[dict], acked: dict, refused: dict, seconds: float) -> None:
    chunks = [events[i : i + 100] for i in range(0, len(events), 100)]
    started, deadline = time.monotonic(), time.monotonic() + seconds + 180
    async with httpx.AsyncClient(base_url=url, timeout=15, headers={"X-API-Key": key}) as client:
        for i, chunk in enumerate(chunks):
            await asyncio.sleep(max(0.0, started + i * seconds / len(chunks) - time.monotonic()))
            while True:
                assert time.monotonic() < deadline, "intake never acknowledged a batch"
                try:
                    response = await client.post("/v1/events/batch", json=chunk)
                except httpx.HTTPError:
                    await asyncio.sleep(0.2)  # intake crashed; the supervisor restarts it
                    continue
                if response.status_code in (200, 207, 422):
                    for item in response.json()["results"]:
                        event = chunk[item["index"]]
                        if item["status"] in ("accepted", "duplicate"):
                            acked[event["id"]] = event
                        else:
                            refused[event["id"]] = str(item)[:300]
                    break
                await asyncio.sleep(0.3)


def supervise(stack: Stack, exits: dict[str, int], stop) -> None:
    """Restart each service once it crashed, without its crash point (it has done its part)."""
    while not stop.is_set():
        for name in CRASHES:
            process = stack.processes.get(name)
            if name not in exits and process is not None and process.poll() is not None:
                exits[name] = process.returncode
                for var in ("FAULT_CRASH_AT", "FAULT_CRASH_AFTER"):
                    stack.extra_env[name].pop(var, None)
                stack.start(name)
                stack.wait_ready(name, 120)
        stop.wait(0.2)  # poll interval


async def test_crashes_aimed_at_the_windows_between_effect_and_commit_lose_and_double_nothing(
    crashing_stack, topics, schemas, db
):
    stack, marks = crashing_stack
    events = generated(SEED)
    print(f"crash points seed {SEED}: {len(events)} events of {DOSSIERS} dossiers; crashes {CRASHES}")
    async with httpx.AsyncClient(timeout=10) as client:  # some calls stored, then failed
        (
            await client.post(
                stack.url("portal-simulator") + "/admin/faults",
                json={"stored_fail_ratio": 0.1, "latency_seconds": 0.02},
            )
        ).raise_for_status()
    acked, refused, exits = {}, {}, {}
    stop = threading.Event()
    supervisor = asyncio.create_task(asyncio.to_thread(supervise, stack, exits, stop))
    try:
        await post_all(stack.url("intake"), stack.api_key, events, acked, refused, seconds=15)

        async def all_crashed() -> bool:
            return len(exits) == len(CRASHES)

        await poll(all_crashed, 120, f"a crash of each of {sorted(CRASHES)}")
        await wait_until_quiet(db, KAFKA, topics, schemas, timeout=180)
    finally:
        stop.set()
        await supervisor
    assert exits == dict.fromkeys(CRASHES, -signal.SIGKILL), exits
    hits = dict(line.split() for line in marks.read_text().splitlines())
    assert set(hits) == {point for point, _ in CRASHES.values()}, hits
    assert all(int(n) > 0 for n in hits.values()), f"a crash with nothing in flight: {hits}"
    truth = check.Truth(events)
    check.acknowledged_all(truth, acked, refused)
    async with db.connect() as conn:
        await check.check_processing(conn, f"{schemas}processing", truth)
        await check.check_metrics(conn, f"{schemas}metrics", truth)
    portal = await check.check_portal(stack.url("portal-simulator"), truth)
    letters = check.consumer_failures(await check.read_to_end(KAFKA, topics.dead_letter))
    assert not letters, f"{len(letters)} records a consumer could not apply: {letters[:2]}"
    assert "stored_fail" in portal["verdicts"], f"the portal's faults never struck: {portal['verdicts']}"
    print(f"crash points seed {SEED}: crashed with in flight {hits}; portal {portal['verdicts']}")
