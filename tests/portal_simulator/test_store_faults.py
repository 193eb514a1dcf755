"""The simulator's faults around storing: stored then 500, stored then a hang and 504, stored late
(after a hang its caller gave up on); and that it notices a dossier sent by two callers at once."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services.portal_simulator.app import create_app
from services.portal_simulator.faults import SimulatorSettings
from tests.conftest import poll
from tests.portal_simulator.test_simulator import record


@pytest.fixture
async def portal():
    app = create_app(SimulatorSettings(rate_per_second=1000, burst=1000, hang_seconds=0.3))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal") as client:
        token = (await client.post("/api/session", json={"username": "motcua-h44", "password": "demo-only"})).json()
        client.headers["Authorization"] = f"Bearer {token['token']}"
        yield client


async def held(client: httpx.AsyncClient) -> dict:
    return {code: d["status"] for code, d in (await client.get("/admin/dossiers")).json().items()}


@pytest.mark.parametrize(("fault", "answer"), [("stored_fail_ratio", 500), ("stored_hang_ratio", 504),
                                               ("late_ratio", 504)])
async def test_a_failed_answer_may_still_have_stored_the_records(portal, fault, answer):
    await portal.post("/admin/faults", json={fault: 1, "hang_seconds": 0.3, "rate_per_second": 1000, "burst": 1000})
    response = await portal.post("/api/DongBoHoSoMC", json={"data": [record()]})
    assert response.status_code == answer
    assert await held(portal) == {"H44.100-260803-0001": 2}  # the caller heard a failure; the portal holds it


async def test_a_late_store_lands_after_a_newer_one(portal):
    """What a caller that gave up and sent a newer revision sees: the older one lands last."""
    await portal.post("/admin/faults", json={"late_ratio": 1, "hang_seconds": 2, "rate_per_second": 1000,
                                             "burst": 1000})
    late = asyncio.create_task(portal.post("/api/DongBoHoSoMC", json={"data": [record(status=4)]}))

    async def hanging() -> bool:
        return (await portal.get("/health")).json()["open_calls"] == 1

    await poll(hanging, 5, "the late call to hang")
    await portal.post("/admin/faults", json={"rate_per_second": 1000, "burst": 1000})
    assert (await portal.post("/api/DongBoHoSoMC", json={"data": [record(status=9)]})).status_code == 200
    assert (await late).status_code == 504
    health = (await portal.get("/health")).json()
    assert await held(portal) == {"H44.100-260803-0001": 4}
    assert health["overlaps"] == 0  # the late call's caller had given up: not two senders at once


async def test_a_dossier_in_two_calls_at_once_is_counted(portal):
    await portal.post("/admin/faults", json={"latency_seconds": 0.2, "rate_per_second": 1000, "burst": 1000})
    answers = await asyncio.gather(*(portal.post("/api/DongBoHoSoMC", json={"data": [record()]}) for _ in range(2)))
    assert [a.status_code for a in answers] == [200, 200]
    assert (await portal.get("/health")).json()["overlaps"] == 1
