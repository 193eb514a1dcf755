"""Sync against the portal simulator, in the portal's dialect, with the bodies checked field by
field against the public sources as docs/portal.md lists them (the names below are copied from
there, not from the models).

The delivery worker runs on the real PostgreSQL; the simulator is called in process (ASGI)
through a transport that records every request.
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, date, datetime
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import delete, select, update

from services.sync import backlog
from services.sync.config import SyncSettings
from services.sync.delivery import DeliveryWorker
from services.sync.models import SyncBacklog, SyncProgressSent, SyncState
from services.sync.portal.client import PortalClient
from services.sync.portal.codec import Dialect
from services.sync.portal.identity import Clear
from services.sync.portal.sender import PortalSender
from services.sync.portal.transport import Reply
from services.sync.reconcile import reconcile
from services.sync.retry import CircuitBreaker
from shared.event_types import DossierState, StepItem
from shared.topics import Topics
from shared.units import load_units
from simulators.portal.app import create_app
from simulators.portal.settings import SimulatorSettings
from tests.sync.test_delivery import queue, sessionmaker  # noqa: F401

pytestmark = pytest.mark.integration
CODE = "H44.100-260803-{:04d}"
NATIONAL = "000.00.30.H44-260803-{:04d}"
ID_NUMBER, NAME = "001099012345", "Nguyễn Văn An"

# docs/portal.md, name by name.
RECORD = (
    "MaHoSo MaTTHC TenTTHC MaLinhVuc TenLinhVuc KenhThucHien SoGiayToChuHoSo ChuHoSo LoaiDoiTuong MaDoiTuong "
    "ThongTinKhac Email Fax SoDienThoai TrichYeuHoSo NgayTiepNhan NgayHenTra TrangThaiHoSo NgayTra ThongTinTra "
    "HinhThuc NgayKetThucXuLy DonViXuLy GhiChu TaiLieuNop DanhSachLePhi DanhSachTepDinhKemKhac "
    "DanhSachHoSoBoSung DanhSachGiayToKetQua NoiNopHoSo HoSoCoThanhPhanSoHoa TaiKhoanDuocXacThucVoiVNeID "
    "DuocThanhToanTrucTuyen NgayTuChoi DinhDanhCHS NgayNopHoSo DSKetNoiCSDL"
).split()
ITEMS = {
    "TaiLieuNop": "TepDinhKemId TenTepDinhKem IsDeleted MaThanhPhanHoSo DuongDanTaiTepTin DuocSoHoa DuocTaiSuDung "
    "DuocLayTuKhoDMQG MaKetQuaThayThe".split(),
    "DanhSachLePhi": "TenPhiLePhi MaPhiLePhi HinhThucThu Gia LoaiPhiLePhi".split(),
    "DanhSachGiayToKetQua": "TenGiayTo MaThanhPhanHoSo GiayToId DuongDanTepTinKetQua MaGiayToKetQua".split(),
    "DanhSachHoSoBoSung": "HoSoBoSungId NguoiYeuCauBoSung NoiDungBoSung NgayBoSung NguoiTiepNhanBoSung "
    "ThongTinTiepNhan NgayTiepNhanBoSung TrangThaiBoSung DanhSachGiayToBoSung "
    "DanhSachLePhiBoSung NgayHenTraTruoc NgayHenTraMoi".split(),
    "DinhDanhCHS": ["LoaiDinhDanh", "SoDinhDanh"],
    "DSKetNoiCSDL": ["MaCSDL"],
}
STEP = (
    "MaHoSo NguoiXuLy ChucDanh ThoiDiemXuLy PhongBanXuLy NoiDungXuLy TrangThai NgayBatDau NgayKetThucTheoQuyDinh"
).split()
DATE = re.compile(r"^(|\d{14})$")
FORMATS = {
    "KenhThucHien": r"^[123]$",
    "TrangThaiHoSo": r"^([1-9]|10)$",
    "TrangThai": r"^([1-9]|10)$",
    "LoaiDoiTuong": r"^[1-4]$",
    "DuocThanhToanTrucTuyen": r"^[012]$",
    "HoSoCoThanhPhanSoHoa": r"^[01]$",
    "TaiKhoanDuocXacThucVoiVNeID": r"^[01]$",
    "MaHoSo": r"^\d{3}\.\d{2}\.\d{2}\.H\d{2}-\d{6}-\d{4,6}$",
    "MaTTHC": r"^\d\.\d{6}$",
    "Gia": r"^\d+$",
    "LoaiPhiLePhi": r"^[12]$",
    "LoaiDinhDanh": r"^[12]$",
}


def check_strings(item: dict, names: list[str], where: str) -> None:
    """Every name present, nothing else; every value a string in its format (lists: their items)."""
    assert sorted(item) == sorted(names), where
    for name, value in item.items():
        if name in ITEMS or name in ("DanhSachTepDinhKemKhac", "DanhSachGiayToBoSung", "DanhSachLePhiBoSung"):
            assert isinstance(value, list), f"{where}.{name}"
            for sub in value if name in ITEMS else ():
                check_strings(sub, ITEMS[name], f"{where}.{name}")
            continue
        assert isinstance(value, str), f"{where}.{name} = {value!r}"
        if name.startswith("Ngay") or name == "ThoiDiemXuLy":
            assert DATE.match(value), f"{where}.{name} = {value!r}"
        if name in FORMATS:
            assert re.match(FORMATS[name], value), f"{where}.{name} = {value!r}"


def state(n: int, revision: int, status: int = 2, steps: int = 0) -> SimpleNamespace:
    s = DossierState(
        dossier_code=CODE.format(n),
        unit_code="H44.100",
        procedure_code="1.000894",
        channel=2,
        status=status,
        revision=revision,
        received_at=datetime(2026, 8, 3, 2, tzinfo=UTC),
        submitted_at=datetime(2026, 8, 3, 1, tzinfo=UTC),
        due_at=datetime(2026, 8, 10, 10, tzinfo=UTC),
        end_at=datetime(2026, 8, 5, 2, tzinfo=UTC),
        returned_at=datetime(2026, 8, 6, 2, tzinfo=UTC),
        steps=[
            StepItem(
                unit_code="H44.100",
                official="Trần Thị Bình",
                started_at=datetime(2026, 8, 3, 3 + i, tzinfo=UTC),
                due_at=None,
                ended_at=None,
                verdict=None,
            )
            for i in range(steps)
        ],
    )
    envelope = {
        "id": f"{s.dossier_code}:r{revision}",
        "type": "dossier.state",
        "source": "processing",
        "subject": s.dossier_code,
        "time": "2026-08-03T09:00:00+07:00",
        "data": s.model_dump(mode="json"),
    }
    return SimpleNamespace(value=json.dumps(envelope).encode(), topic="t", partition=0, offset=0, key=b"")


class KnownApplicant:
    def __init__(self):
        self.asked: list[list[str]] = []

    async def fetch(self, codes):
        self.asked.append(list(codes))
        return {c: Clear(ID_NUMBER, NAME) for c in codes}


class Recorder:
    """The portal client's transport for the test: forwards each call to the simulator in
    process, records it, and fails the calls it is told to."""

    def __init__(self, app):
        self.inner = httpx.ASGITransport(app=app)
        self.requests: list[tuple[str, dict, dict]] = []
        self.fail: dict[str, int] = {}  # service -> how many of its next calls answer 500

    async def post(self, path: str, body: bytes, headers) -> Reply:
        sent = json.loads(body or b"{}")
        self.requests.append((path, dict(headers), sent))
        service = sent.get("service", "login")
        if self.fail.get(service):
            self.fail[service] -= 1
            return Reply(500, {}, b'{"detail": "fails (test)"}')
        request = httpx.Request("POST", f"http://portal{path}", content=body, headers=dict(headers))
        response = await self.inner.handle_async_request(request)
        return Reply(response.status_code, response.headers, await response.aread())

    def bodies(self, service: str) -> list[dict]:
        return [b for _, _, b in self.requests if b.get("service") == service]


@pytest.fixture
async def portal(sessionmaker):  # noqa: F811
    app = create_app(SimulatorSettings(rate_per_second=10_000, burst=10_000))
    recorder = Recorder(app)
    pc = PortalClient(
        recorder, username="motcua-h44", password="demo-only", dstcode="000.00.00.H44", madonvi="000.00.00.H44"
    )
    sender = PortalSender(pc, sessionmaker, Dialect(load_units()), KnownApplicant())
    settings = SyncSettings(
        portal_username="u", portal_password="p", backoff_base_seconds=0, breaker_cool_down_seconds=0.0
    )
    worker = DeliveryWorker(
        sessionmaker,
        sender,
        Topics("x."),
        settings,
        rng=random.Random(1),
        breaker=CircuitBreaker(threshold=50, cool_down=0.0),
    )
    yield SimpleNamespace(app=app, recorder=recorder, client=pc, sender=sender, worker=worker, held=app.state.portal)


async def drain(w: DeliveryWorker, rounds: int = 60) -> None:
    for _ in range(rounds):
        if await w.deliver_once() == 0:
            async with w._sessionmaker() as session:
                from services.sync import backlog

                if (await backlog.counts(session, min_attempts=99))[0] == 0:
                    return
    raise AssertionError("backlog not drained")


async def test_the_bodies_sent_follow_external_md_field_by_field(portal, sessionmaker):  # noqa: F811
    await queue(sessionmaker, [state(1, 1, 2, steps=2), state(2, 1, 10, steps=1)])
    await drain(portal.worker)
    await reconcile(sessionmaker, portal.sender, start=date(2026, 8, 1), end=date(2026, 8, 31))
    requests = portal.recorder.requests
    login = [b for path, _, b in requests if path == "/api/session"]
    assert login and all(sorted(b) == ["password", "username"] and isinstance(b["password"], str) for b in login)
    assert all(h.get("dstcode") == "000.00.00.H44" for _, h, _ in requests)
    calls = [b for path, _, b in requests if path == "/api/integration"]
    assert {b["service"] for b in calls} == {"DongBoHoSoMC", "CapNhatTienDoHoSoMC", "TraCuuHoSo"}
    for b in calls:
        assert isinstance(b["session"], str) and b["madonvi"] == "000.00.00.H44"
    for b in portal.recorder.bodies("TraCuuHoSo"):
        assert sorted(b) == ["madonvi", "mahoso", "service", "session"] and isinstance(b["mahoso"], str)
    records = [(b["isUpdating"], r) for b in portal.recorder.bodies("DongBoHoSoMC") for r in b["data"]]
    assert [u for u, _ in records] == ["False", "False"]
    for _, r in records:
        check_strings(r, RECORD, r["MaHoSo"])
        assert (r["SoGiayToChuHoSo"], r["ChuHoSo"], r["DinhDanhCHS"]) == (
            ID_NUMBER,
            NAME,
            [{"LoaiDinhDanh": "1", "SoDinhDanh": ID_NUMBER}],
        )
    steps = [s for b in portal.recorder.bodies("CapNhatTienDoHoSoMC") for s in b["data"]]
    assert all(len(b["data"]) <= 10 for b in portal.recorder.bodies("CapNhatTienDoHoSoMC"))
    for s in steps:
        check_strings(s, STEP, s["MaHoSo"])
    # received + 2 hand-overs; received + 1 hand-over + the end
    assert sorted(s["MaHoSo"] for s in steps) == [NATIONAL.format(1)] * 3 + [NATIONAL.format(2)] * 3
    assert set(portal.held.dossiers) == {NATIONAL.format(1), NATIONAL.format(2)}


async def test_updates_already_exists_steps_once_and_a_failed_chunk_retried(portal, sessionmaker):  # noqa: F811
    rec = portal.recorder
    await queue(sessionmaker, [state(n, 1, 2, steps=1) for n in range(1, 13)])
    rec.fail["CapNhatTienDoHoSoMC"] = 1  # the first chunk of steps fails: retried, not lost
    await drain(portal.worker)
    first = [s for b in rec.bodies("CapNhatTienDoHoSoMC") for s in b["data"]]
    assert len(first) == 24 + 10  # 12 dossiers x 2 steps, and the failed chunk of 10 once more
    assert all(len(b["data"]) <= 10 for b in rec.bodies("CapNhatTienDoHoSoMC"))
    # Dossiers whose record went but a step failed are known to be held: updates, not creates.
    assert sum(b["isUpdating"] == "False" for b in rec.bodies("DongBoHoSoMC")) == 1
    # A newer revision with one more step: an update, and only the new step is sent.
    rec.requests.clear()
    await queue(sessionmaker, [state(1, 2, 4, steps=2)])
    await drain(portal.worker)
    assert [b["isUpdating"] for b in rec.bodies("DongBoHoSoMC")] == ["True"]
    assert [s["ThoiDiemXuLy"] for b in rec.bodies("CapNhatTienDoHoSoMC") for s in b["data"]] == ["20260803110000"]
    # The portal holds a dossier we do not know it holds (a crash before our commit): the create
    # is answered "already exists" and the record goes again as an update.
    async with sessionmaker() as session, session.begin():
        await session.execute(delete(SyncState).where(SyncState.dossier_code == CODE.format(2)))
        await session.execute(
            delete(SyncProgressSent).where(
                SyncProgressSent.dossier_code == CODE.format(2), SyncProgressSent.step_key == "record"
            )
        )
    rec.requests.clear()
    await queue(sessionmaker, [state(2, 3, 4, steps=1)])
    await drain(portal.worker)
    assert [b["isUpdating"] for b in rec.bodies("DongBoHoSoMC")] == ["False", "True"]
    assert portal.held.dossiers[NATIONAL.format(2)].TrangThaiHoSo == "4"
    assert all(len(steps) == 2 for code, steps in portal.held.progress.items() if code != NATIONAL.format(1))
    assert portal.held.rejected == 0


async def test_what_the_portal_took_is_recorded_with_the_round_or_not_at_all(portal, sessionmaker, monkeypatch):  # noqa: F811
    await queue(sessionmaker, [state(1, 1, 2, steps=2)])

    async def database_lost(*args, **kwargs):
        raise ConnectionResetError("the database went away (test)")

    monkeypatch.setattr(backlog, "delivered", database_lost)
    with pytest.raises(ConnectionResetError):
        await portal.worker.deliver_once()
    assert len(portal.recorder.bodies("CapNhatTienDoHoSoMC")) == 1  # the portal took the steps
    async with sessionmaker() as session:
        # Neither the steps nor the delivery were recorded: the round is sent again, whole.
        assert (await session.execute(select(SyncProgressSent))).first() is None
        assert (await session.execute(select(SyncState))).first() is None
    monkeypatch.undo()
    async with sessionmaker() as session, session.begin():
        await session.execute(update(SyncBacklog).values(leased_until=None))  # the lease ran out
    await drain(portal.worker)
    async with sessionmaker() as session:
        kept = set((await session.execute(select(SyncProgressSent.step_key))).scalars())
    assert len(kept) == 4  # "record" and the three steps
    assert len(portal.held.progress[NATIONAL.format(1)]) == 3  # each kept once by the portal


async def test_an_expired_session_means_one_new_login(portal, sessionmaker):  # noqa: F811
    await queue(sessionmaker, [state(1, 1)])
    await drain(portal.worker)
    portal.held.sessions.clear()  # the portal forgets every session
    await queue(sessionmaker, [state(1, 2, 4)])
    await drain(portal.worker)
    assert portal.client.logins == 2
    assert portal.held.dossiers[NATIONAL.format(1)].TrangThaiHoSo == "4"
