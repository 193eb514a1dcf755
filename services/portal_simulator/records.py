"""The dossier record of the national portal's sync call (DongBoHoSoMC), DOMAIN.md §8."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

PORTAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PORTAL_DATE = "%Y%m%d%H%M%S"  # yyyyMMddHHmmss, local time


def portal_date(value: datetime | None) -> str | None:
    return value.astimezone(PORTAL_TZ).strftime(PORTAL_DATE) if value else None


class PortalDossier(BaseModel):
    """The fields of a dossier record this product sends (the portal's own names)."""

    model_config = ConfigDict(extra="forbid")

    MaHoSo: str = Field(min_length=1, max_length=64)
    MaTTHC: str = Field(pattern=r"^\d\.\d{6}$")
    KenhThucHien: int = Field(ge=1, le=3)
    DonViXuLy: str = Field(pattern=r"^H\d{2}(\.\d{1,3})*$")
    TrangThaiHoSo: int = Field(ge=1, le=10)
    NgayTiepNhan: str | None = None
    NgayHenTra: str | None = None
    NgayKetThucXuLy: str | None = None
    NgayTra: str | None = None
    HoSoCoThanhPhanSoHoa: int = Field(ge=0, le=1)
    DuocThanhToanTrucTuyen: int = Field(ge=0, le=2)

    @field_validator("NgayTiepNhan", "NgayHenTra", "NgayKetThucXuLy", "NgayTra")
    @classmethod
    def _portal_date(cls, value: str | None) -> str | None:
        if value is not None:
            datetime.strptime(value, PORTAL_DATE)  # raises ValueError with the bad part
            if len(value) != 14:
                raise ValueError("dates are yyyyMMddHHmmss")
        return value


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: list[PortalDossier] = Field(min_length=1, max_length=500)
