"""Every final status reaches the portal, in order, through faults, an outage and a kill -9.

The five services run as processes on the real broker and database; realistic dossiers are
posted through intake while the portal simulator fails 30% of its calls (and hangs on some).
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text

from deploy.launch import SERVICES, Stack
from deploy.quiescence import wait_until_quiet
from shared.units import load_units
from simulators.counter.generator import DossierGenerator
from simulators.counter.post import post_events
from tests.chaos.truth import Truth, check_portal
from tests.conftest import DATABASE_URL, KAFKA, free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
VN = ZoneInfo("Asia/Ho_Chi_Minh")
FAULTS = {"fail_ratio": 0.3, "timeout_ratio": 0.02, "hang_seconds": 1.5}
# Short timeouts, leases and backoffs so a test recovers in seconds rather than minutes.
SYNC_ENV = {
    "SYNC_PORTAL_TIMEOUT_SECONDS": "1",
    "SYNC_LEASE_SECONDS": "3",
    "SYNC_BACKOFF_BASE_SECONDS": "0.1",
    "SYNC_BACKOFF_CAP_SECONDS": "2",
    "SYNC_BREAKER_MAX_COOL_DOWN_SECONDS": "2",
}


@pytest.fixture
def stack(tmp_path, topics, schemas, monkeypatch):
    for name, value in SYNC_ENV.items():
        monkeypatch.setenv(name, value)
    running = Stack(
        run_dir=tmp_path / "run",
        database_url=DATABASE_URL,
        kafka_bootstrap=KAFKA,
        topic_prefix=topics.prefix,
        schema_prefix=schemas,
        ports={s.name: free_port() for s in SERVICES},
    )
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


def august_events(count: int) -> list[dict]:
    generator = DossierGenerator(load_units(), seed=5)
    start, end = datetime(2026, 8, 1, tzinfo=VN), datetime(2026, 8, 29, tzinfo=VN)
    now = datetime.now(VN)  # counters post what has happened so far (intake refuses the future)
    events = (e for d in generator.dossiers(count, start, end) for e in d if datetime.fromisoformat(e["time"]) <= now)
    return sorted(events, key=lambda e: e["time"])


async def post(stack: Stack, events: list[dict]) -> None:
    totals = await post_events(stack.url("intake"), events, rate=50_000, batch=500)
    assert totals["accepted"] == len(events), totals


async def wait_until_synced(db, topics, schemas: str, timeout: float = 180) -> None:
    """Until the sync backlog is empty and everything it published has been consumed. A deadline,
    not a speed goal: the portal's dialect takes a few calls per dossier (record, then progress
    steps 10 at a time), each failing 30% of the time here, on a machine that may be shared."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await wait_until_quiet(db, KAFKA, topics, schemas, timeout=deadline - time.monotonic())
        async with db.connect() as conn:
            left = (await conn.execute(text(f'SELECT count(*) FROM "{schemas}sync".sync_backlog'))).scalar()
        if left == 0:
            await wait_until_quiet(db, KAFKA, topics, schemas, timeout=max(1, deadline - time.monotonic()))
            return
        await asyncio.sleep(0.2)  # poll interval, bounded by the deadline
    raise TimeoutError(f"sync backlog still holds {left} dossiers")


async def assert_portal_holds_every_final_status(stack: Stack, events: list[dict], dossiers: int) -> dict:
    """Against the truth folded from the generated events, not processing's own table: every final
    status at the portal, each history a subsequence of the statuses the dossier went through."""
    truth = Truth(events)
    assert len(truth.states) == dossiers
    health = await check_portal(stack.url("portal-simulator"), truth)
    async with httpx.AsyncClient(timeout=30) as client:
        portal = (await client.get(stack.url("portal-simulator") + "/admin/dossiers")).json()
        failures = (
            await client.get(
                stack.url("sync") + "/v1/sync/failures", headers={"Authorization": f"Bearer {stack.reader_token}"}
            )
        ).json()
        report = (await client.get(stack.url("metrics") + "/v1/indicators", params={"period": "2026-08"})).json()
    assert failures == []
    assert all(held["steps"] >= 1 for held in portal.values())  # the progress service was used
    assert health["rejected"] == 0, health
    unit = report["unit"]
    sync_rate = (unit.get("rates") or unit["indicators"])["sync_rate"]  # the report's shape is metrics'
    assert sync_rate["numerator"] == sync_rate["denominator"] > 0, sync_rate
    return health


async def test_final_statuses_reach_the_portal_through_failures_and_an_outage(stack, db, topics, schemas):
    count = 2500
    events = august_events(count)
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.post(stack.url("portal-simulator") + "/admin/faults", json=FAULTS)).status_code == 200
        started = time.monotonic()
        await post(stack, events[: len(events) // 2])
        await client.post(stack.url("portal-simulator") + "/admin/faults", json=FAULTS | {"down_for_seconds": 4})
        await post(stack, events[len(events) // 2 :])
    posted = time.monotonic()
    await wait_until_synced(db, topics, schemas)
    health = await assert_portal_holds_every_final_status(stack, events, count)
    print(
        f"{count} dossiers, {len(events)} events posted in {posted - started:.1f}s, "
        f"synced {time.monotonic() - posted:.1f}s later; portal verdicts {health['verdicts']}"
    )


async def test_a_sync_killed_mid_stream_loses_nothing(stack, db, topics, schemas):
    count = 2000
    events = august_events(count)
    third = len(events) // 3
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.post(stack.url("portal-simulator") + "/admin/faults", json=FAULTS)).status_code == 200
    started = time.monotonic()
    await post(stack, events[:third])
    stack.stop("sync", signal.SIGKILL)  # mid-batch, mid-send: no graceful shutdown
    await post(stack, events[third : 2 * third])
    stack.start("sync")
    await asyncio.to_thread(stack.wait_ready, "sync")
    await post(stack, events[2 * third :])
    await wait_until_synced(db, topics, schemas)
    health = await assert_portal_holds_every_final_status(stack, events, count)
    print(
        f"{count} dossiers with a kill -9 of sync: done in {time.monotonic() - started:.1f}s; "
        f"portal verdicts {health['verdicts']}"
    )
