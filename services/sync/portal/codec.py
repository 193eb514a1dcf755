"""The canonical dossier in the portal's words: the record (DongBoHoSoMC) and its progress steps
(CapNhatTienDoHoSoMC), as queued by sync.

The queued payload is `{"dossier_code", "record", "progress"}`. The record's identity fields
(SoGiayToChuHoSo, ChuHoSo, DinhDanhCHS) stay empty here: the applicant's clear identity is
never stored by sync; sender.py fills it in memory just before a call (docs/security.md).
Which field comes from where, and which are deliberately empty, is in docs/portal.md.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from services.sync.portal.record import PORTAL_TZ, portal_date
from shared.event_types import DossierState, ResultItem, Status, dossier_digitized
from shared.units import UnitTree

# A dossier code inside the province: <unit key>-yyMMdd-<sequence>, e.g. H44.100-260803-00012.
INTERNAL_CODE = re.compile(r"^(?P<unit>H\d{2}(?:\.\d{1,3})*)-(?P<date>\d{6})-(?P<seq>\d{4,6})$")
PLACES = {"counter": "1", "province_system": "2", "national_portal": "3"}
APPLICANT_TYPES = {"citizen": "1", "organisation": "2", "state_body": "3", "other": "4"}
FEE_NAMES = {1: "Phí", 2: "Lệ phí"}
OFFICE = "Bộ phận Một cửa"  # who receives and returns, when the event names nobody


@dataclass(frozen=True)
class Dialect:
    """What the mapping needs besides the dossier: the units (names, national identifiers) and
    the province's dossier-code pattern (a setting: `{unit}`, `{date}`, `{seq}`)."""

    units: UnitTree
    code_pattern: str = "{unit}-{date}-{seq}"

    def national_code(self, dossier_code: str) -> str:
        """MaHoSo: the dossier code with the unit's national identifier in place of its key."""
        m = INTERNAL_CODE.match(dossier_code)
        unit = self.units.units.get(m["unit"]) if m else None
        if m is None or unit is None or not unit.national_id:
            return dossier_code  # already in the portal's form, or a unit without an identifier
        return self.code_pattern.format(unit=unit.national_id, date=m["date"], seq=m["seq"])

    def unit_name(self, code: str) -> str:
        unit = self.units.units.get(code)
        return unit.name if unit else code


def payload(s: DossierState, dialect: Dialect) -> dict:
    """What sync queues for one dossier revision (JSON-ready)."""
    code = dialect.national_code(s.dossier_code)
    return {"dossier_code": s.dossier_code, "record": record(s, code, dialect), "progress": progress(s, code, dialect)}


def _appointment_note(s: DossierState) -> str:
    """An extension's new appointment (thư xin lỗi): NgayHenTra stays the due date the dossier is
    judged against (docs/indicators.md), so the new date the citizen was given travels here."""
    if s.appointment_at is None or s.appointment_at == s.due_at:
        return ""
    local = s.appointment_at.astimezone(PORTAL_TZ)
    return f"Gia hạn giải quyết (thư xin lỗi), hẹn trả mới: {local:%H:%M %d/%m/%Y}"


def record(s: DossierState, code: str, dialect: Dialect) -> dict[str, Any]:
    """The record (HoSo's fields, in JSON form). Built as plain data: models.HoSo is the check,
    applied by the tests and by the simulator as the portal would, not on sync's hot path."""
    p = s.procedure
    ended = s.status in (Status.PROCESSED, Status.RETURNED)
    return _fields(
        MaHoSo=code,
        MaTTHC=s.procedure_code,
        TenTTHC=p.name if p else "",
        MaLinhVuc=p.field_code if p else "",
        TenLinhVuc=p.field if p else "",
        KenhThucHien=str(int(s.channel)),
        SoGiayToChuHoSo="",
        ChuHoSo="",
        DinhDanhCHS=[],  # filled just before sending (sender.py)
        LoaiDoiTuong=APPLICANT_TYPES.get(s.applicant_type or "", "1"),
        MaDoiTuong=s.applicant_code or "",
        # Contact data is not collected by this system (data minimisation): deliberately empty.
        ThongTinKhac="",
        Email="",
        Fax="",
        SoDienThoai="",
        TrichYeuHoSo=s.summary or (p.name if p else ""),
        NgayTiepNhan=portal_date(s.received_at),
        NgayHenTra=portal_date(s.due_at),
        TrangThaiHoSo=str(int(s.status)),
        NgayTra=portal_date(s.returned_at),
        ThongTinTra=s.document_number or "",
        HinhThuc="1" if s.form == "post" else "0",
        NgayKetThucXuLy=portal_date(s.end_at) if ended else "",
        DonViXuLy=dialect.unit_name(s.unit_code),
        GhiChu=_appointment_note(s),
        TaiLieuNop=[
            {
                "TepDinhKemId": d.code,
                "TenTepDinhKem": d.file_name or "",
                "IsDeleted": "0",
                "MaThanhPhanHoSo": d.code,
                "DuongDanTaiTepTin": d.file_url or "",
                "DuocSoHoa": _flag(d.digitized),
                "DuocTaiSuDung": _flag(d.reused),
                "DuocLayTuKhoDMQG": _flag(d.from_personal_data_store),
                "MaKetQuaThayThe": "",
            }
            for d in s.documents
        ],
        DanhSachLePhi=[
            {
                "TenPhiLePhi": f"{FEE_NAMES.get(f.fee_type, 'Lệ phí')} {p.name if p else ''}".strip(),
                "MaPhiLePhi": "",
                "HinhThucThu": "",
                "Gia": str(f.amount),
                "LoaiPhiLePhi": str(f.fee_type),
            }
            for f in s.fees
        ],
        DanhSachTepDinhKemKhac=[],
        DanhSachHoSoBoSung=[
            {
                "HoSoBoSungId": f"{code}-BS{i}",
                "NguoiYeuCauBoSung": "",
                "NoiDungBoSung": b.reason or "",
                "NgayBoSung": portal_date(b.requested_at),
                "NguoiTiepNhanBoSung": "",
                "ThongTinTiepNhan": "",
                "NgayTiepNhanBoSung": portal_date(b.supplied_at),
                "TrangThaiBoSung": _flag(b.supplied_at is not None),
                "DanhSachGiayToBoSung": [],
                "DanhSachLePhiBoSung": [],
                "NgayHenTraTruoc": portal_date(b.due_before),
                "NgayHenTraMoi": portal_date(b.due_after),
            }
            for i, b in enumerate(s.supplements, 1)
        ],
        DanhSachGiayToKetQua=[
            {
                "TenGiayTo": r.file_name or "",
                "MaThanhPhanHoSo": "",
                "GiayToId": r.code,
                "DuongDanTepTinKetQua": r.file_url or "",
                "MaGiayToKetQua": r.code,
            }
            for r in (s.result_items or [ResultItem(code=c) for c in s.results])
        ],
        NoiNopHoSo=PLACES.get(s.submission_place or "", ""),
        HoSoCoThanhPhanSoHoa=_flag(dossier_digitized(s)),
        TaiKhoanDuocXacThucVoiVNeID=_flag(s.vneid_authenticated),
        DuocThanhToanTrucTuyen=str(s.payment_method if s.payment_method in (0, 1, 2) else 0),
        NgayTuChoi=portal_date(s.end_at) if s.status == Status.REFUSED else "",
        NgayNopHoSo=portal_date(s.submitted_at),
        DSKetNoiCSDL=[{"MaCSDL": c} for c in s.databases_consulted],
    )


def progress(s: DossierState, code: str, dialect: Dialect) -> list[dict[str, str]]:
    """The control sheet as progress steps (TienDo's fields): the reception, each hand-over, the end."""
    steps: list[dict[str, str]] = []
    due = portal_date(s.due_at)
    if s.received_at:
        at = portal_date(s.received_at)
        steps.append(
            _step(
                MaHoSo=code,
                NguoiXuLy=OFFICE,
                ChucDanh="",
                ThoiDiemXuLy=at,
                PhongBanXuLy=dialect.unit_name(s.unit_code),
                NoiDungXuLy="Tiếp nhận hồ sơ",
                TrangThai="2",
                NgayBatDau=at,
                NgayKetThucTheoQuyDinh=due,
            )
        )
    for step in s.steps:
        at = portal_date(step.started_at)
        steps.append(
            _step(
                MaHoSo=code,
                NguoiXuLy=step.official or "Chuyên viên xử lý",
                ChucDanh="",
                ThoiDiemXuLy=at,
                PhongBanXuLy=dialect.unit_name(step.unit_code),
                NoiDungXuLy="Chuyển xử lý",
                TrangThai="4",
                NgayBatDau=at,
                NgayKetThucTheoQuyDinh=portal_date(step.due_at),
            )
        )
    ends = {
        Status.PROCESSED: "Hoàn thành xử lý",
        Status.RETURNED: "Hoàn thành xử lý",
        Status.REFUSED: "Từ chối tiếp nhận",
        Status.STOPPED: "Dừng xử lý",
    }
    if s.end_at and s.status in ends:
        at = portal_date(s.end_at)
        state = "3" if s.status == Status.REFUSED else "8" if s.status == Status.STOPPED else "9"
        steps.append(
            _step(
                MaHoSo=code,
                NguoiXuLy=OFFICE,
                ChucDanh="",
                ThoiDiemXuLy=at,
                PhongBanXuLy=dialect.unit_name(s.unit_code),
                NoiDungXuLy=ends[s.status],
                TrangThai=state,
                NgayBatDau="",
                NgayKetThucTheoQuyDinh="",
            )
        )
    return steps


def _step(**fields: str) -> dict[str, str]:
    return fields


def _fields(**fields: Any) -> dict[str, Any]:
    return fields


def step_key(step: dict) -> str:
    """A step's identity, to deliver it once: what it says happened, when, where and by whom."""
    text = "|".join(
        step[k] for k in ("MaHoSo", "ThoiDiemXuLy", "TrangThai", "NoiDungXuLy", "PhongBanXuLy", "NguoiXuLy")
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _flag(value: bool) -> str:
    return "1" if value else "0"
