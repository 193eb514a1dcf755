"""Late answers: the portal simulator stores some sync calls only after hanging past sync's
timeout (sync has given up and sent again, maybe a newer revision since), and stores others and
then fails them. A late store of an older revision can put the portal back (seen: a history
4, 9, 4, 9, 10); nothing a caller does can stop a write the portal performs after answering 504.
What the system guarantees is that reconciliation repairs it: after the run, reconciling the
month makes the portal hold exactly the final statuses folded from the generated events.

Fixed seed (LATE_SEED to change, printed).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from deploy.launch import ROOT, SERVICES
from deploy.quiescence import wait_until_quiet
from shared.units import load_units
from simulators.counter.generator import DossierGenerator
from tests.chaos import truth as check
from tests.chaos.test_crash_points import post_all
from tests.conftest import KAFKA, poll

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.chaos]
VN = ZoneInfo("Asia/Ho_Chi_Minh")
SEED = int(os.environ.get("LATE_SEED", "7"))
SYNC_ENV = {
    "SYNC_PORTAL_TIMEOUT_SECONDS": "2",
    "SYNC_LEASE_SECONDS": "5",
    "SYNC_BACKOFF_BASE_SECONDS": "0.1",
    "SYNC_BACKOFF_CAP_SECONDS": "1",
    "SYNC_PORTAL_CHUNK": "20",
}
FAULTS = {"late_ratio": 0.15, "stored_fail_ratio": 0.1, "hang_seconds": 3, "latency_seconds": 0.02}


@pytest.fixture
def late_stack(stack):
    # The conftest's stack, with sync's timeouts short (set before its processes start: restart sync).
    stack.extra_env["sync"] = SYNC_ENV
    stack.stop("sync")
    stack.start("sync")
    stack.wait_ready("sync")
    return stack


async def test_late_stores_at_the_portal_are_repaired_by_reconciliation(late_stack, topics, schemas, db):
    stack = late_stack
    generator = DossierGenerator(load_units(), seed=SEED)
    now = datetime.now(VN)
    dossiers = generator.dossiers(150, datetime(2026, 8, 1, tzinfo=VN), datetime(2026, 8, 29, tzinfo=VN))
    events = sorted(
        (e for d in dossiers for e in d if datetime.fromisoformat(e["time"]) <= now), key=lambda e: e["time"]
    )
    print(f"late answers seed {SEED}: {len(events)} events; portal faults {FAULTS}")
    portal = stack.url("portal-simulator")
    async with httpx.AsyncClient(base_url=portal, timeout=10) as client:
        (await client.post("/admin/faults", json=FAULTS)).raise_for_status()
        acked, refused = {}, {}
        await post_all(stack.url("intake"), stack.api_key, events, acked, refused, seconds=8)
        await wait_until_quiet(db, KAFKA, topics, schemas, timeout=180)
        (await client.post("/admin/faults", json={})).raise_for_status()

        async def no_call_open() -> bool:  # the late calls have stored what they were going to store
            return (await client.get("/health")).json()["open_calls"] == 0

        await poll(no_call_open, 30, "the portal's late calls to finish")
        verdicts = (await client.get("/health")).json()["verdicts"]
    assert verdicts.get("late"), f"no late store happened: {verdicts}"

    sync = next(s for s in SERVICES if s.name == "sync")
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.sync.reconcile", "--from", "2026-08-01", "--to", "2026-08-31"],
        env=stack.env(sync),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    reconciled = json.loads(done.stdout)
    assert reconciled["unchecked"] == 0, reconciled
    await wait_until_quiet(db, KAFKA, topics, schemas, timeout=120)

    truth = check.Truth(events)
    check.acknowledged_all(truth, acked, refused)
    health = await check.check_portal(portal, truth, late_stores=True)
    print(
        f"late answers seed {SEED}: portal {health['verdicts']}, {health['regressions']} late regressions "
        f"refused; reconciliation {reconciled['checked']} checked, {reconciled['differences']} differed, "
        f"{reconciled['requeued']} re-queued"
    )
