"""The simulator's faults around storing: stored then 500, stored then a hang and 504, stored late
(after a hang its caller gave up on); and that it notices a dossier sent by two callers at once."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from simulators.faults import Faults, FaultSettings
from simulators.portal.app import create_app
from simulators.portal.settings import SimulatorSettings
from tests.conftest import poll
from tests.portal_simulator.test_simulator import Portal, record

LIMITS = {"rate_per_second": 1000, "burst": 1000}


@pytest.fixture
async def portal():
    app = create_app(SimulatorSettings(**LIMITS))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal") as client:
        p = Portal(client)
        assert (await p.login()).json()["error_code"] == "0"
        yield p


async def faults(portal: Portal, **settings) -> None:
    (await portal.client.post("/admin/faults", json=LIMITS | settings)).raise_for_status()


async def held(portal: Portal) -> dict:
    return {code: d["status"] for code, d in (await portal.client.get("/admin/dossiers")).json().items()}


async def health(portal: Portal) -> dict:
    return (await portal.client.get("/health")).json()


@pytest.mark.parametrize(
    ("fault", "answer"), [("stored_fail_ratio", 500), ("stored_hang_ratio", 504), ("late_ratio", 504)]
)
async def test_a_failed_answer_may_still_have_stored_the_records(portal, fault, answer):
    await faults(portal, **{fault: 1, "hang_seconds": 0.3})
    response = await portal.call("DongBoHoSoMC", isUpdating="False", data=[record()])
    assert response.status_code == answer
    assert await held(portal) == {"000.00.30.H44-260803-0001": 2}  # the caller heard a failure; it is held


async def test_a_late_store_lands_after_a_newer_one(portal):
    """What a caller that gave up and sent a newer revision sees: the older one lands last."""
    await portal.sync(record(status="4"))
    await faults(portal, late_ratio=1, hang_seconds=2)
    late = asyncio.create_task(portal.call("DongBoHoSoMC", isUpdating="True", data=[record(status="4")]))

    async def hanging() -> bool:
        return (await health(portal))["open_calls"] == 1

    await poll(hanging, 5, "the late call to hang")
    await faults(portal)
    assert (await portal.sync(record(status="9", NgayKetThucXuLy="20260805090000"), updating=True))["error_code"] == "0"
    assert (await late).status_code == 504
    assert await held(portal) == {"000.00.30.H44-260803-0001": 4}  # 9 → 4 is a possible change: stored
    assert (await health(portal))["overlaps"] == 0  # the late call's caller had given up


async def test_a_dossier_in_two_calls_at_once_is_counted(portal):
    await portal.sync(record())
    await faults(portal, latency_seconds=0.2)
    answers = await asyncio.gather(*(portal.call("DongBoHoSoMC", isUpdating="True", data=[record()]) for _ in range(2)))
    assert [a.status_code for a in answers] == [200, 200]
    assert (await health(portal))["overlaps"] == 1


def test_store_faults_strike_their_exact_share_evenly_from_the_first_period():
    """Tests assert that these rare faults struck: they must, whatever the run's number of syncs."""
    faults = Faults(FaultSettings(stored_fail_ratio=0.1, stored_hang_ratio=0.05))
    verdicts = [faults.judge_store() for _ in range(200)]
    fails = [i + 1 for i, v in enumerate(verdicts) if v == "stored_fail"]
    hangs = [i + 1 for i, v in enumerate(verdicts) if v == "stored_hang"]
    assert fails == list(range(5, 201, 10))
    assert hangs == list(range(10, 201, 20))
    assert faults.counts == {"stored_fail": 20, "stored_hang": 10}
    faults.configure(FaultSettings(stored_fail_ratio=0.5, late_ratio=0.5))  # both due on the same syncs
    assert [faults.judge_store() for _ in range(4)] == ["stored_fail", "late", "stored_fail", "late"]
    faults.configure(FaultSettings())
    assert {faults.judge_store() for _ in range(100)} == {"ok"}
