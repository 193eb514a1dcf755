"""The portal simulator over ASGI, in the portal's dialect: login and sessions, dstcode, string
values checked field by field, error codes, TraCuuHoSo, progress, regressions, faults."""

from __future__ import annotations

import random

import httpx
import pytest

from services.sync.portal.record import HoSo
from simulators.faults import Faults, FaultSettings
from simulators.portal.app import create_app
from simulators.portal.rules import impossible_change
from simulators.portal.settings import SimulatorSettings

DST = {"dstcode": "000.00.00.H44"}
EMPTY_LISTS = (
    "TaiLieuNop",
    "DanhSachLePhi",
    "DanhSachTepDinhKemKhac",
    "DanhSachHoSoBoSung",
    "DanhSachGiayToKetQua",
    "DinhDanhCHS",
    "DSKetNoiCSDL",
)


def record(code: str = "000.00.30.H44-260803-0001", status: str = "2", **extra) -> dict:
    base = (
        dict.fromkeys(HoSo.model_fields, "")
        | {name: [] for name in EMPTY_LISTS}
        | {
            "MaHoSo": code,
            "MaTTHC": "1.000894",
            "KenhThucHien": "2",
            "LoaiDoiTuong": "1",
            "HinhThuc": "0",
            "DonViXuLy": "UBND Phường Việt Trì",
            "TrangThaiHoSo": status,
            "NgayTiepNhan": "20260803090000",
            "NgayHenTra": "20260810170000",
            "HoSoCoThanhPhanSoHoa": "1",
            "TaiKhoanDuocXacThucVoiVNeID": "0",
            "DuocThanhToanTrucTuyen": "0",
        }
    )
    if status in ("9", "10"):
        base["NgayKetThucXuLy"] = "20260805090000"
    if status == "10":
        base["NgayTra"] = "20260806090000"
    return base | extra


def step(code: str = "000.00.30.H44-260803-0001", **extra) -> dict:
    return {
        "MaHoSo": code,
        "NguoiXuLy": "Trần Thị Bình",
        "ChucDanh": "",
        "ThoiDiemXuLy": "20260803100000",
        "PhongBanXuLy": "UBND Phường Việt Trì",
        "NoiDungXuLy": "Chuyển xử lý",
        "TrangThai": "4",
        "NgayBatDau": "20260803100000",
        "NgayKetThucTheoQuyDinh": "",
    } | extra


class Portal:
    def __init__(self, client: httpx.AsyncClient):
        self.client, self.session = client, None

    async def login(self, password: str = "demo-only") -> httpx.Response:
        response = await self.client.post(
            "/api/session", json={"username": "motcua-h44", "password": password}, headers=DST
        )
        self.session = response.json().get("session") or self.session
        return response

    async def call(self, service: str, headers=DST, **fields) -> httpx.Response:
        return await self.client.post(
            "/api/integration",
            headers=headers,
            json={"session": self.session, "madonvi": "000.00.00.H44", "service": service, **fields},
        )

    async def sync(self, *records: dict, updating: bool = False) -> dict:
        response = await self.call("DongBoHoSoMC", isUpdating=str(updating), data=list(records))
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def portal():
    app = create_app(SimulatorSettings(rate_per_second=1000, burst=1000))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal") as client:
        p = Portal(client)
        assert (await p.login()).json()["error_code"] == "0"
        yield p


@pytest.mark.parametrize(
    "change, field",
    [
        ({"NgayTiepNhan": "2026-08-03"}, "NgayTiepNhan"),
        ({"TrangThaiHoSo": "11"}, "TrangThaiHoSo"),
        ({"TrangThaiHoSo": 2}, "TrangThaiHoSo"),  # a number where a string belongs
        ({"TrangThaiHoSo": "10", "NgayKetThucXuLy": "20260805090000"}, "NgayTra"),
        (
            {
                "DanhSachLePhi": [
                    {"TenPhiLePhi": "Lệ phí", "MaPhiLePhi": "", "HinhThucThu": "", "Gia": "50000", "LoaiPhiLePhi": "3"}
                ]
            },
            "LoaiPhiLePhi",
        ),
        ({"Unknown": "1"}, "Unknown"),
        ({"MaHoSo": "H44.100-260803-0001"}, "MaHoSo"),  # the internal key, not the national identifier
        ({"DonViXuLy": "H44.100"}, "DonViXuLy"),
    ],
)
async def test_a_record_is_checked_field_by_field_and_a_refused_call_stores_nothing(portal, change, field):
    answer = await portal.sync(record("000.00.30.H44-260803-0009"), record(**change))
    assert answer["error_code"] == "2" and field in answer["message"], answer
    assert (await portal.client.get("/admin/dossiers")).json() == {}


async def test_a_missing_name_is_refused(portal):
    incomplete = record()
    del incomplete["DSKetNoiCSDL"]
    answer = await portal.sync(incomplete)
    assert answer["error_code"] == "2" and "DSKetNoiCSDL" in answer["message"]


async def test_create_update_already_exists_and_look_up(portal):
    code = "000.00.30.H44-260803-0001"
    assert (await portal.sync(record(code)))["error_code"] == "0"
    assert (await portal.sync(record(code)))["error_code"] == "3"
    assert (await portal.sync(record(code), record("000.00.30.H44-260803-0002")))["error_code"] == "-3"
    assert (await portal.sync(record("000.00.30.H44-260803-0003"), updating=True))["error_code"] == "4"
    assert (await portal.sync(record(code, "4"), updating=True))["error_code"] == "0"
    found = (await portal.call("TraCuuHoSo", mahoso=code)).json()
    assert found["error_code"] == "0" and found["result"][0]["TrangThaiHoSo"] == "4"
    assert (await portal.call("TraCuuHoSo", mahoso="000.00.30.H44-260803-0002")).json()["result"] == []


async def test_progress_steps_of_held_dossiers_are_kept_once(portal):
    code = "000.00.30.H44-260803-0001"
    assert (await portal.call("CapNhatTienDoHoSoMC", data=[step(code)])).json()["error_code"] == "4"
    await portal.sync(record(code))
    for _ in range(2):
        assert (await portal.call("CapNhatTienDoHoSoMC", data=[step(code)])).json()["error_code"] == "0"
    bad = await portal.call("CapNhatTienDoHoSoMC", data=[step(code, ThoiDiemXuLy="")])
    assert bad.json()["error_code"] == "2" and "ThoiDiemXuLy" in bad.json()["message"]
    assert len((await portal.client.get(f"/admin/dossiers/{code}")).json()["progress"]) == 1


async def test_an_impossible_regression_is_refused_and_history_kept(portal):
    code = "000.00.30.H44-260803-0001"
    assert (await portal.sync(record(code, "2")))["error_code"] == "0"
    assert (await portal.sync(record(code, "10"), updating=True))["error_code"] == "0"
    assert (await portal.sync(record(code, "10"), updating=True))["error_code"] == "0"  # a re-send is fine
    refused = await portal.sync(record(code, "4"), updating=True)
    assert refused["error_code"] == "5" and "final" in refused["message"]
    held = (await portal.client.get("/admin/dossiers")).json()[code]
    assert held == {"status": 10, "history": [2, 10], "steps": 0}


def test_transition_rules():
    assert impossible_change(10, 4) and impossible_change(3, 2) and impossible_change(4, 1)
    assert impossible_change(9, 2)
    assert impossible_change(2, 4) is None and impossible_change(9, 5) is None
    assert impossible_change(1, 3) is None and impossible_change(4, 10) is None


async def test_sessions_expire_dstcode_is_required_and_wrong_passwords_are_refused(portal):
    await portal.client.post("/admin/sessions/expire")
    expired = await portal.call("TraCuuHoSo", mahoso="x")
    assert expired.status_code == 401 and expired.json()["error_code"] == "-1"
    assert (await portal.login("x")).json()["error_code"] != "0"
    assert (await portal.login()).json()["error_code"] == "0"
    assert (await portal.call("TraCuuHoSo", mahoso="x")).json()["error_code"] == "0"
    assert (await portal.call("TraCuuHoSo", headers={}, mahoso="x")).status_code == 400
    assert (
        await portal.client.post("/api/session", json={"username": "motcua-h44", "password": "demo-only"})
    ).status_code == 400


async def test_admin_faults_fail_calls_and_take_the_portal_down(portal):
    answer = await portal.client.post("/admin/faults", json={"fail_ratio": 1.0})
    assert answer.status_code == 200
    assert (await portal.call("DongBoHoSoMC", isUpdating="False", data=[record()])).status_code == 500
    await portal.client.post("/admin/faults", json={"down_for_seconds": 30})
    down = await portal.call("DongBoHoSoMC", isUpdating="False", data=[record()])
    assert down.status_code == 503 and int(down.headers["Retry-After"]) >= 29
    await portal.client.post("/admin/faults", json={})
    assert (await portal.sync(record()))["error_code"] == "0"


def test_rate_limit_refills_with_time_and_ratios_hold():
    now = [0.0]
    faults = Faults(FaultSettings(rate_per_second=2, burst=3), clock=lambda: now[0], rng=random.Random(1))
    assert [faults.judge() for _ in range(4)] == ["ok", "ok", "ok", "limited"]
    now[0] = 1.0
    assert [faults.judge() for _ in range(3)] == ["ok", "ok", "limited"]
    faults.configure(FaultSettings(fail_ratio=0.3, timeout_ratio=0.1, rate_per_second=1e9, burst=10**9))
    verdicts = [faults.judge() for _ in range(10_000)]
    assert 0.27 < verdicts.count("fail") / 10_000 < 0.33 and 0.08 < verdicts.count("hang") / 10_000 < 0.12
