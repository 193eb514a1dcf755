"""The portal simulator over ASGI: validation, impossible status changes, rate limit, faults."""

from __future__ import annotations

import random

import httpx
import pytest

from services.portal_simulator.app import create_app
from services.portal_simulator.faults import Faults, FaultSettings, SimulatorSettings
from services.portal_simulator.rules import impossible_change


def record(code: str = "H44.100-260803-0001", status: int = 2, **extra) -> dict:
    base = {"MaHoSo": code, "MaTTHC": "1.000894", "KenhThucHien": 2, "DonViXuLy": "H44.100",
            "TrangThaiHoSo": status, "NgayTiepNhan": "20260803090000", "NgayHenTra": "20260810170000",
            "HoSoCoThanhPhanSoHoa": 1, "DuocThanhToanTrucTuyen": 0}
    if status in (9, 10):
        base["NgayKetThucXuLy"] = "20260805090000"
    if status == 10:
        base["NgayTra"] = "20260806090000"
    return base | extra


@pytest.fixture
async def portal():
    app = create_app(SimulatorSettings(rate_per_second=1000, burst=1000))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal") as client:
        token = (await client.post("/api/session", json={"username": "motcua-h44", "password": "demo-only"})).json()
        client.headers["Authorization"] = f"Bearer {token['token']}"
        yield client


async def send(client: httpx.AsyncClient, *records: dict) -> list[dict]:
    response = await client.post("/api/DongBoHoSoMC", json={"data": list(records)})
    assert response.status_code == 200, response.text
    return response.json()["results"]


async def test_each_record_is_judged_on_its_own_fields(portal):
    results = await send(
        portal,
        record(),
        record("H44.100-260803-0002", NgayTiepNhan="2026-08-03"),
        record("H44.100-260803-0003", status=11),
        record("H44.100-260803-0004", status=10, NgayTra=None),
        record("H44.100-260803-0005", DanhSachLePhi=[{"Gia": 50000, "LoaiPhiLePhi": 3}]),
        record("H44.100-260803-0006", Unknown=1),
    )
    assert [r["error_code"] for r in results] == [0, 2, 2, 2, 2, 2]
    assert "NgayTiepNhan" in results[1]["message"] and "TrangThaiHoSo" in results[2]["message"]
    assert "NgayTra" in results[3]["message"] and "LoaiPhiLePhi" in results[4]["message"]
    looked_up = await portal.get("/api/TraCuuHoSo", params={"MaHoSo": "H44.100-260803-0001"})
    assert looked_up.json()["TrangThaiHoSo"] == 2


async def test_an_impossible_regression_is_refused_and_history_kept(portal):
    code = "H44.100-260803-0001"
    assert [r["error_code"] for r in await send(portal, record(code, 2))] == [0]
    assert [r["error_code"] for r in await send(portal, record(code, 10))] == [0]
    assert [r["error_code"] for r in await send(portal, record(code, 10))] == [0]  # a re-send is fine
    refused = await send(portal, record(code, 4))
    assert refused[0]["error_code"] == 3 and "final" in refused[0]["message"]
    held = (await portal.get("/admin/dossiers")).json()[code]
    assert held == {"status": 10, "history": [2, 10]}


def test_transition_rules():
    assert impossible_change(10, 4) and impossible_change(3, 2) and impossible_change(4, 1)
    assert impossible_change(9, 2)
    assert impossible_change(2, 4) is None and impossible_change(9, 5) is None
    assert impossible_change(1, 3) is None and impossible_change(4, 10) is None


async def test_sessions_expire_and_wrong_passwords_are_refused(portal):
    portal.headers["Authorization"] = "Bearer nope"
    assert (await portal.post("/api/DongBoHoSoMC", json={"data": [record()]})).status_code == 401
    wrong = await portal.post("/api/session", json={"username": "motcua-h44", "password": "x"})
    assert wrong.status_code == 401


async def test_admin_faults_fail_calls_and_take_the_portal_down(portal):
    answer = await portal.post("/admin/faults", json={"fail_ratio": 1.0})
    assert answer.status_code == 200
    assert (await portal.post("/api/DongBoHoSoMC", json={"data": [record()]})).status_code == 500
    await portal.post("/admin/faults", json={"down_for_seconds": 30})
    down = await portal.post("/api/DongBoHoSoMC", json={"data": [record()]})
    assert down.status_code == 503 and int(down.headers["Retry-After"]) >= 29
    await portal.post("/admin/faults", json={})
    assert (await portal.post("/api/DongBoHoSoMC", json={"data": [record()]})).status_code == 200


def test_rate_limit_refills_with_time_and_ratios_hold():
    now = [0.0]
    faults = Faults(FaultSettings(rate_per_second=2, burst=3), clock=lambda: now[0], rng=random.Random(1))
    assert [faults.judge() for _ in range(4)] == ["ok", "ok", "ok", "limited"]
    now[0] = 1.0
    assert [faults.judge() for _ in range(3)] == ["ok", "ok", "limited"]
    faults.configure(FaultSettings(fail_ratio=0.3, timeout_ratio=0.1, rate_per_second=1e9, burst=10**9))
    verdicts = [faults.judge() for _ in range(10_000)]
    assert 0.27 < verdicts.count("fail") / 10_000 < 0.33 and 0.08 < verdicts.count("hang") / 10_000 < 0.12
