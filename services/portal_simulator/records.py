"""The dossier record of the national portal's sync call (DongBoHoSoMC), docs/domain.md §8.

Field names are the portal's own. Every code and date is checked here, so the simulator
refuses what the real portal would refuse; the sync adapter builds the same model.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PORTAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
UNIT = r"^H\d{2}(\.\d{1,3})*$"
DateText = str | None


def portal_date(value: datetime | None) -> str | None:
    if not value:
        return None
    # yyyyMMddHHmmss in the portal's local time; formatted by hand at half strftime's cost
    # (a record has about ten dates).
    d = value.astimezone(PORTAL_TZ)
    return f"{d.year:04d}{d.month:02d}{d.day:02d}{d.hour:02d}{d.minute:02d}{d.second:02d}"


def parse_portal_date(value: str) -> datetime:
    if len(value) != 14 or not value.isdigit():
        raise ValueError("dates are yyyyMMddHHmmss")
    # Sliced by hand: strptime was a tenth of sync's CPU. datetime() raises on 20261332….
    v = value
    return datetime(int(v[:4]), int(v[4:6]), int(v[6:8]), int(v[8:10]), int(v[10:12]), int(v[12:]),
                    tzinfo=PORTAL_TZ)


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaiLieu(_Part):
    """A submitted component (thành phần hồ sơ)."""

    MaThanhPhanHoSo: str = Field(min_length=1, max_length=64)
    DuongDanTaiTepTin: str | None = Field(default=None, max_length=1000)
    DuocSoHoa: int = Field(default=0, ge=0, le=1)
    DuocTaiSuDung: int = Field(default=0, ge=0, le=1)
    DuocLayTuKhoDMQG: int = Field(default=0, ge=0, le=1)


class LePhi(_Part):
    Gia: int = Field(ge=0, description="VND")
    LoaiPhiLePhi: int = Field(ge=1, le=2, description="1 phí, 2 lệ phí")


class HoSoBoSung(_Part):
    """A supplementation request and the due dates before and after it."""

    NgayHenTraTruoc: DateText = None
    NgayHenTraMoi: DateText = None


class GiayToKetQua(_Part):
    MaGiayToKetQua: str = Field(min_length=1, max_length=64)
    DuongDanTepTinKetQua: str | None = Field(default=None, max_length=1000)


class BuocXuLy(_Part):
    """One processing step (a line of the control sheet, phiếu kiểm soát quá trình)."""

    MaDonVi: str = Field(pattern=UNIT)
    NguoiXuLy: str | None = Field(default=None, max_length=200)
    NgayBatDau: str
    HanXuLy: DateText = None
    NgayKetThuc: DateText = None


DATE_FIELDS = ("NgayNopHoSo", "NgayTiepNhan", "NgayHenTra", "NgayKetThucXuLy", "NgayTra", "NgayTuChoi")
# Which dates a status cannot be without (an accepted dossier has a reception date, …).
REQUIRED_DATES = {
    2: ("NgayTiepNhan",), 3: ("NgayTuChoi",), 4: ("NgayTiepNhan",), 5: ("NgayTiepNhan",),
    6: ("NgayTiepNhan",), 9: ("NgayTiepNhan", "NgayKetThucXuLy"),
    10: ("NgayTiepNhan", "NgayKetThucXuLy", "NgayTra"),
}


class PortalDossier(BaseModel):
    """A dossier record as DongBoHoSoMC takes it and TraCuuHoSo returns it."""

    model_config = ConfigDict(extra="forbid")

    MaHoSo: str = Field(pattern=r"^H\d{2}(\.\d{1,3})*-\d{6}-\d{4,6}$")
    MaTTHC: str = Field(pattern=r"^\d\.\d{6}$")
    TenTTHC: str | None = Field(default=None, max_length=500)
    MaLinhVuc: str | None = Field(default=None, max_length=64)
    KenhThucHien: int = Field(ge=1, le=3)
    ChuHoSo: str | None = Field(default=None, max_length=200)
    LoaiDoiTuong: int | None = Field(default=None, ge=1, le=2, description="1 công dân, 2 tổ chức")
    DonViXuLy: str = Field(pattern=UNIT)
    TrangThaiHoSo: int = Field(ge=1, le=10)
    NgayNopHoSo: DateText = None
    NgayTiepNhan: DateText = None
    NgayHenTra: DateText = None
    NgayKetThucXuLy: DateText = None
    NgayTra: DateText = None
    NgayTuChoi: DateText = None
    HoSoCoThanhPhanSoHoa: int = Field(ge=0, le=1)
    DuocThanhToanTrucTuyen: int = Field(ge=0, le=2, description="0 no, 1 national portal, 2 province")
    TaiLieuNop: list[TaiLieu] = Field(default_factory=list, max_length=200)
    DanhSachLePhi: list[LePhi] = Field(default_factory=list, max_length=50)
    DanhSachHoSoBoSung: list[HoSoBoSung] = Field(default_factory=list, max_length=50)
    DanhSachGiayToKetQua: list[GiayToKetQua] = Field(default_factory=list, max_length=50)
    QuaTrinhXuLy: list[BuocXuLy] = Field(default_factory=list, max_length=200)

    @field_validator(*DATE_FIELDS)
    @classmethod
    def _portal_date(cls, value: str | None) -> str | None:
        if value is not None:
            parse_portal_date(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PortalDossier:
        missing = [f for f in REQUIRED_DATES.get(self.TrangThaiHoSo, ()) if getattr(self, f) is None]
        if missing:
            raise ValueError(f"TrangThaiHoSo {self.TrangThaiHoSo} needs {', '.join(missing)}")
        if self.NgayTiepNhan and self.NgayHenTra and self.NgayHenTra < self.NgayTiepNhan:
            raise ValueError("NgayHenTra is before NgayTiepNhan")
        if self.NgayTiepNhan and self.NgayTra and self.NgayTra < self.NgayTiepNhan:
            raise ValueError("NgayTra is before NgayTiepNhan")
        return self


class SyncRequest(BaseModel):
    """The call's envelope; its records are judged one by one (see the simulator)."""

    model_config = ConfigDict(extra="forbid")
    data: list[dict] = Field(min_length=1, max_length=500)
