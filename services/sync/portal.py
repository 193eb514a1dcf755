"""The national portal adapter: an interface, and its HTTP implementation."""

from __future__ import annotations

from typing import Protocol

import httpx

from services.portal_simulator.records import PortalDossier, portal_date
from shared.event_types import DossierState


class Portal(Protocol):
    async def sync(self, records: list[PortalDossier]) -> None:
        """Send records (DongBoHoSoMC); raise PortalError when the portal refuses or fails."""


class PortalError(Exception):
    pass


def to_portal_record(s: DossierState) -> PortalDossier:
    digitized = s.components > 0 and s.components_digitized == s.components
    return PortalDossier(
        MaHoSo=s.dossier_code,
        MaTTHC=s.procedure_code,
        KenhThucHien=int(s.channel),
        DonViXuLy=s.unit_code,
        TrangThaiHoSo=int(s.status),
        NgayTiepNhan=portal_date(s.received_at),
        NgayHenTra=portal_date(s.due_at),
        NgayKetThucXuLy=portal_date(s.end_at),
        NgayTra=portal_date(s.returned_at),
        HoSoCoThanhPhanSoHoa=int(digitized),
        DuocThanhToanTrucTuyen=1 if s.paid_online else 0,
    )


class HttpPortal:
    """Session login, renewed when the portal answers 401."""

    def __init__(self, client: httpx.AsyncClient, username: str, password: str):
        self._client = client
        self._credentials = {"username": username, "password": password}
        self._token: str | None = None

    async def _login(self) -> None:
        response = await self._client.post("/api/session", json=self._credentials)
        if response.status_code != 200:
            raise PortalError(f"login refused: {response.status_code} {response.text[:200]}")
        self._token = response.json()["token"]

    async def sync(self, records: list[PortalDossier]) -> None:
        body = {"data": [r.model_dump() for r in records]}
        for attempt in range(2):
            if self._token is None:
                await self._login()
            try:
                response = await self._client.post(
                    "/api/DongBoHoSoMC", json=body, headers={"Authorization": f"Bearer {self._token}"}
                )
            except httpx.HTTPError as exc:
                raise PortalError(f"portal unreachable: {type(exc).__name__}: {exc}") from exc
            if response.status_code == 401 and attempt == 0:
                self._token = None  # session expired: log in again once
                continue
            if response.status_code != 200:
                raise PortalError(f"portal answered {response.status_code}: {response.text[:300]}")
            return
