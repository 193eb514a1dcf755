"""The national portal's dialect (Cổng DVCQG): the record, the progress step and the call bodies.

Field names and formats are the portal's, as public code that talks to it shows them (the
sources are named per field in docs/portal.md): every value is a string, dates are
yyyyMMddHHmmss in Asia/Ho_Chi_Minh, an absent value is the empty string. The models are strict
(a number where a string belongs is refused) and every name must be present, so the simulator
refuses what the real portal would not understand; sync builds the same models.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

PORTAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# A unit's national electronic identifier (QĐ 20/2020/QĐ-TTg), e.g. 000.00.01.H44.
NATIONAL_UNIT_ID = r"^\d{3}\.\d{2}\.\d{2}\.H\d{2}$"
SUCCESS = "0"
ALREADY_EXISTS = ("3", "-3")  # DongBoHoSoMC create of a dossier the portal holds (P2)


def portal_date(value: datetime | None) -> str:
    """yyyyMMddHHmmss in the portal's local time; "" when absent."""
    return _portal_date(value) if value else ""


# A payload has ~15 dates, and each revision of a dossier repeats most of its predecessor's
# (reception, due date, the steps): remembered, they cost a lookup instead of a conversion and a
# format (~1.5 µs each, 7% of sync's CPU in the bench). A pure function of its argument: an entry
# is never stale. 65,536 entries are ~14 MB.
@lru_cache(maxsize=65_536)
def _portal_date(value: datetime) -> str:
    d = value.astimezone(PORTAL_TZ)
    return f"{d.year:04d}{d.month:02d}{d.day:02d}{d.hour:02d}{d.minute:02d}{d.second:02d}"


def parse_portal_date(value: str) -> datetime:
    if len(value) != 14 or not value.isdigit():
        raise ValueError("dates are yyyyMMddHHmmss")
    v = value  # sliced by hand (strptime was a tenth of sync's CPU); datetime() raises on 20261332…
    return datetime(int(v[:4]), int(v[4:6]), int(v[6:8]), int(v[8:10]), int(v[10:12]), int(v[12:]), tzinfo=PORTAL_TZ)


@lru_cache(maxsize=65_536)
def _date_error(value: str) -> str | None:
    """Why `value` is not a portal date, or None. Remembered: a dossier's records and steps
    repeat the same few dates, and the simulator checks every one of them in every call."""
    try:
        parse_portal_date(value)
    except ValueError as exc:
        return str(exc)
    return None


def _date_or_empty(value: str) -> str:
    return _date(value) if value else value


def _date(value: str) -> str:
    if (error := _date_error(value)) is not None:
        raise ValueError(error)
    return value


# Value types, each a string in its format.
Date = Annotated[str, AfterValidator(_date_or_empty)]  # "" or yyyyMMddHHmmss
RequiredDate = Annotated[str, AfterValidator(_date)]
Flag = Literal["0", "1"]
Digits = Annotated[str, Field(pattern=r"^\d{1,15}$")]
Short = Annotated[str, Field(max_length=64)]
Name = Annotated[str, Field(max_length=500)]
Long = Annotated[str, Field(max_length=4000)]
Link = Annotated[str, Field(max_length=1000, pattern=r"^(|https?://\S+)$")]


class _Part(BaseModel):
    # strict: a string field refuses 1 or true; forbid: an unknown name is an error.
    model_config = ConfigDict(extra="forbid", strict=True)


class TaiLieu(_Part):
    """A submitted component (TaiLieuNop item)."""

    TepDinhKemId: Short
    TenTepDinhKem: Name
    IsDeleted: Flag
    MaThanhPhanHoSo: Annotated[str, Field(min_length=1, max_length=64)]
    DuongDanTaiTepTin: Link
    DuocSoHoa: Flag
    DuocTaiSuDung: Literal["0", "1", "2"]  # P2 sends 2 for a reuse of another kind
    DuocLayTuKhoDMQG: Flag  # taken from the citizen's data store on the portal
    MaKetQuaThayThe: Short


class LePhi(_Part):
    """A fee (DanhSachLePhi item)."""

    TenPhiLePhi: Name
    MaPhiLePhi: Short
    HinhThucThu: Short
    Gia: Digits  # VND
    LoaiPhiLePhi: Literal["1", "2"]  # 1 phí, 2 lệ phí


class TepDinhKemKhac(_Part):
    TenGiayTo: Name
    SoLuong: Digits
    LoaiGiayTo: Short


class GiayToBoSung(_Part):
    TenGiayTo: Name
    DuongDanTaiTepTin: Link


class HoSoBoSung(_Part):
    """A supplementation request (DanhSachHoSoBoSung item)."""

    HoSoBoSungId: Short
    NguoiYeuCauBoSung: Name
    NoiDungBoSung: Long
    NgayBoSung: RequiredDate  # when it was requested
    NguoiTiepNhanBoSung: Name
    ThongTinTiepNhan: Long
    NgayTiepNhanBoSung: Date  # when the citizen supplied it
    TrangThaiBoSung: Literal["0", "1"]  # 0 waiting for the citizen, 1 supplied
    DanhSachGiayToBoSung: list[GiayToBoSung] = Field(max_length=100)
    DanhSachLePhiBoSung: list[LePhi] = Field(max_length=50)
    NgayHenTraTruoc: Date
    NgayHenTraMoi: Date


class GiayToKetQua(_Part):
    """A result document (DanhSachGiayToKetQua item)."""

    TenGiayTo: Name
    MaThanhPhanHoSo: Short
    GiayToId: Short
    DuongDanTepTinKetQua: Link
    MaGiayToKetQua: Annotated[str, Field(min_length=1, max_length=64)]


class DinhDanh(_Part):
    """The applicant's identity document: 1 citizen identity card (12 digits), 2 the older 9-digit
    card (P2's mapping)."""

    LoaiDinhDanh: Literal["1", "2"]
    SoDinhDanh: Annotated[str, Field(pattern=r"^(\d{12}|\d{9})$")]


class KetNoiCSDL(_Part):
    MaCSDL: Digits  # a national database the dossier used (e.g. the population database)


DATE_FIELDS = ("NgayNopHoSo", "NgayTiepNhan", "NgayHenTra", "NgayKetThucXuLy", "NgayTra", "NgayTuChoi")
# Which dates a status cannot be without (an accepted dossier has a reception date, …).
REQUIRED_DATES = {
    "2": ("NgayTiepNhan",),
    "3": ("NgayTuChoi",),
    "4": ("NgayTiepNhan",),
    "5": ("NgayTiepNhan",),
    "6": ("NgayTiepNhan",),
    "9": ("NgayTiepNhan", "NgayKetThucXuLy"),
    "10": ("NgayTiepNhan", "NgayKetThucXuLy", "NgayTra"),
}
# The fields that name the applicant in clear: never stored by sync, filled in just before a send.
IDENTITY_FIELDS = ("SoGiayToChuHoSo", "ChuHoSo", "DinhDanhCHS")


class HoSo(_Part):
    """A dossier record as DongBoHoSoMC takes it and TraCuuHoSo returns it (P2's HoSoDongBoDVC)."""

    MaHoSo: Annotated[str, Field(min_length=1, max_length=64)]  # its pattern is the province's setting
    MaTTHC: Annotated[str, Field(pattern=r"^\d\.\d{6}$")]
    TenTTHC: Name
    MaLinhVuc: Short
    TenLinhVuc: Name
    KenhThucHien: Literal["1", "2", "3"]  # direct, online, postal
    SoGiayToChuHoSo: Annotated[str, Field(max_length=20)]
    ChuHoSo: Annotated[str, Field(max_length=200)]
    LoaiDoiTuong: Literal["1", "2", "3", "4"]  # citizen, organisation (P2 also 3 state body, 4 other)
    MaDoiTuong: Short
    ThongTinKhac: Long
    Email: Annotated[str, Field(max_length=200, pattern=r"^(|[^@\s]+@[^@\s]+)$")]
    Fax: Annotated[str, Field(max_length=20)]
    SoDienThoai: Annotated[str, Field(max_length=20, pattern=r"^[0-9+ .]*$")]
    TrichYeuHoSo: Annotated[str, Field(max_length=1000)]
    NgayTiepNhan: Date
    NgayHenTra: Date
    TrangThaiHoSo: Literal["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]
    NgayTra: Date
    ThongTinTra: Long
    HinhThuc: Literal["0", "1"]  # how the result is returned: 0 at the counter, 1 by post (P1)
    NgayKetThucXuLy: Date
    DonViXuLy: Annotated[str, Field(min_length=1, max_length=500)]  # the handling unit's name
    GhiChu: Long
    TaiLieuNop: list[TaiLieu] = Field(max_length=200)
    DanhSachLePhi: list[LePhi] = Field(max_length=50)
    DanhSachTepDinhKemKhac: list[TepDinhKemKhac] = Field(max_length=100)
    DanhSachHoSoBoSung: list[HoSoBoSung] = Field(max_length=50)
    DanhSachGiayToKetQua: list[GiayToKetQua] = Field(max_length=50)
    NoiNopHoSo: Literal["", "1", "2", "3"]
    HoSoCoThanhPhanSoHoa: Flag
    TaiKhoanDuocXacThucVoiVNeID: Flag
    DuocThanhToanTrucTuyen: Literal["0", "1", "2"]  # no, on the national portal, the province's gateway
    NgayTuChoi: Date
    DinhDanhCHS: list[DinhDanh] = Field(max_length=5)
    NgayNopHoSo: Date
    DSKetNoiCSDL: list[KetNoiCSDL] = Field(max_length=20)

    @model_validator(mode="after")
    def _consistent(self) -> HoSo:
        missing = [f for f in REQUIRED_DATES.get(self.TrangThaiHoSo, ()) if not getattr(self, f)]
        if missing:
            raise ValueError(f"TrangThaiHoSo {self.TrangThaiHoSo} needs {', '.join(missing)}")
        # Same format and zone: comparing the strings compares the moments.
        if self.NgayTiepNhan and self.NgayHenTra and self.NgayHenTra < self.NgayTiepNhan:
            raise ValueError("NgayHenTra is before NgayTiepNhan")
        if self.NgayTiepNhan and self.NgayTra and self.NgayTra < self.NgayTiepNhan:
            raise ValueError("NgayTra is before NgayTiepNhan")
        return self


class TienDo(_Part):
    """A processing step as CapNhatTienDoHoSoMC takes it (a line of the control sheet)."""

    MaHoSo: Annotated[str, Field(min_length=1, max_length=64)]
    NguoiXuLy: Annotated[str, Field(min_length=1, max_length=200)]
    ChucDanh: Name
    ThoiDiemXuLy: RequiredDate
    PhongBanXuLy: Name
    NoiDungXuLy: Annotated[str, Field(min_length=1, max_length=2000)]
    TrangThai: Literal["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]
    NgayBatDau: Date
    NgayKetThucTheoQuyDinh: Date


# Call bodies (P1): a login, then every call with the session, the sending unit and the service.
class Login(_Part):
    username: str
    password: str


CALL_ITEMS = 500  # records or steps one call may carry (the simulator's limit too)


class Call(_Part):
    session: str
    madonvi: Annotated[str, Field(pattern=NATIONAL_UNIT_ID)]
    service: Literal["TraCuuHoSo", "DongBoHoSoMC", "CapNhatTienDoHoSoMC"]
    mahoso: str | None = None  # TraCuuHoSo
    isUpdating: Literal["True", "False"] | None = None  # DongBoHoSoMC
    data: list[dict] | None = Field(default=None, max_length=CALL_ITEMS)  # records or steps, judged one by one

    @model_validator(mode="after")
    def _fields_of_the_service(self) -> Call:
        wanted = {"TraCuuHoSo": ("mahoso",), "DongBoHoSoMC": ("isUpdating", "data"), "CapNhatTienDoHoSoMC": ("data",)}[
            self.service
        ]
        missing = [f for f in wanted if getattr(self, f) is None]
        if missing:
            raise ValueError(f"{self.service} needs {', '.join(missing)}")
        return self
