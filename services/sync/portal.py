"""The national portal adapter: an interface, its HTTP implementation, and the record mapping."""

from __future__ import annotations

from typing import Protocol

import httpx
import pydantic_core

from services.portal_simulator.records import (
    BuocXuLy,
    GiayToKetQua,
    HoSoBoSung,
    LePhi,
    PortalDossier,
    TaiLieu,
    portal_date,
)
from shared.event_types import DossierState, Status


class PortalError(Exception):
    """The portal could not be reached or failed (5xx, 429, timeout): try again later."""

    def __init__(self, message: str, retry_after: float | None = None, *,
                 taken: frozenset[str] = frozenset(), untried: frozenset[str] = frozenset()):
        super().__init__(message)
        self.retry_after = retry_after
        # For targets called once per record: the dossiers taken before the failure (delivered)
        # and those not tried yet (no attempt to count); the rest failed.
        self.taken, self.untried = taken, untried


class PortalRejected(Exception):
    """The portal refused the whole call (4xx): sending it again as is will not help."""


class Portal(Protocol):
    async def sync(self, records: list[dict]) -> dict[str, str]:
        """Send records (DongBoHoSoMC: PortalDossier in JSON form, as queued); return the refused
        ones (MaHoSo -> reason).

        Raise PortalError when the call failed as a whole, PortalRejected when it was refused.
        """

    async def look_up(self, code: str) -> PortalDossier | None:
        """The record the portal holds (TraCuuHoSo), None if it holds none."""


def to_portal_record(s: DossierState) -> PortalDossier:
    """The canonical state in the portal's words (docs/domain.md §8)."""
    digitized = s.components > 0 and s.components_digitized == s.components
    return PortalDossier(
        MaHoSo=s.dossier_code,
        MaTTHC=s.procedure_code,
        TenTTHC=(s.procedure.name or None) if s.procedure else None,
        MaLinhVuc=s.procedure.field[:64] if s.procedure else None,
        KenhThucHien=int(s.channel),
        DonViXuLy=s.unit_code,
        TrangThaiHoSo=int(s.status),
        NgayNopHoSo=portal_date(s.submitted_at),
        NgayTiepNhan=portal_date(s.received_at),
        NgayHenTra=portal_date(s.due_at),
        NgayKetThucXuLy=portal_date(s.end_at) if s.status in (Status.PROCESSED, Status.RETURNED) else None,
        NgayTra=portal_date(s.returned_at),
        NgayTuChoi=portal_date(s.end_at) if s.status == Status.REFUSED else None,
        HoSoCoThanhPhanSoHoa=int(digitized),
        DuocThanhToanTrucTuyen=1 if s.paid_online else 0,
        TaiLieuNop=[TaiLieu(MaThanhPhanHoSo=d.code, DuocSoHoa=int(d.digitized), DuocTaiSuDung=int(d.reused),
                            DuocLayTuKhoDMQG=int(d.from_population_data)) for d in s.documents],
        DanhSachLePhi=[LePhi(Gia=f.amount, LoaiPhiLePhi=f.fee_type) for f in s.fees],
        DanhSachHoSoBoSung=[HoSoBoSung(NgayHenTraTruoc=portal_date(b.due_before),
                                       NgayHenTraMoi=portal_date(b.due_after)) for b in s.supplements],
        DanhSachGiayToKetQua=[GiayToKetQua(MaGiayToKetQua=code) for code in s.results],
        QuaTrinhXuLy=[BuocXuLy(MaDonVi=step.unit_code, NguoiXuLy=step.official, NgayBatDau=portal_date(step.started_at),
                               HanXuLy=portal_date(step.due_at), NgayKetThuc=portal_date(step.ended_at))
                      for step in s.steps],
    )


def retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


class HttpPortal:
    """Session login, renewed when the portal answers 401."""

    def __init__(self, client: httpx.AsyncClient, username: str, password: str):
        self._client = client
        self._credentials = {"username": username, "password": password}
        self._token: str | None = None

    async def _call(self, method: str, url: str, headers: dict[str, str] | None = None,
                    **kwargs) -> httpx.Response:
        for attempt in range(2):
            if self._token is None:
                await self._login()
            try:
                response = await self._client.request(
                    method, url, headers={"Authorization": f"Bearer {self._token}", **(headers or {})},
                    **kwargs
                )
            except httpx.HTTPError as exc:
                raise PortalError(f"portal unreachable: {type(exc).__name__}: {exc}") from exc
            if response.status_code == 401 and attempt == 0:
                self._token = None  # session expired: log in again once
                continue
            if response.status_code == 429 or response.status_code >= 500:
                raise PortalError(f"portal answered {response.status_code}: {response.text[:300]}",
                                  retry_after(response))
            return response
        raise PortalError("portal refused a fresh session")

    async def _login(self) -> None:
        try:
            response = await self._client.post("/api/session", json=self._credentials)
        except httpx.HTTPError as exc:
            raise PortalError(f"portal unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise PortalError(f"login refused: {response.status_code} {response.text[:200]}", retry_after(response))
        self._token = response.json()["token"]

    async def sync(self, records: list[dict]) -> dict[str, str]:
        body = pydantic_core.to_json({"data": records})  # Rust encoder: a chunk is ~1 MB of JSON
        response = await self._call("POST", "/api/DongBoHoSoMC", content=body,
                                    headers={"content-type": "application/json"})
        if response.status_code != 200:
            raise PortalRejected(f"portal refused the call: {response.status_code} {response.text[:300]}")
        return {r["MaHoSo"]: f"{r['error_code']}: {r['message']}"
                for r in response.json().get("results", []) if r["error_code"]}

    async def look_up(self, code: str) -> PortalDossier | None:
        response = await self._call("GET", "/api/TraCuuHoSo", params={"MaHoSo": code})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise PortalRejected(f"look-up refused: {response.status_code} {response.text[:300]}")
        return PortalDossier.model_validate(response.json())
