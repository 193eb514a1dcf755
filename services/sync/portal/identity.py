"""The applicant's clear identity, obtained from intake only to build a record for the portal.

Intake holds the identity number and name encrypted (services/intake/identity.py) and serves
them on an internal endpoint to a service credential, writing an access-log line per dossier
(who, when, for what). Sync keeps them in memory for the one call and never stores or logs
them; why this design rather than a database role is argued in docs/security.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

from services.sync.portal.client import PortalError

PURPOSE = "portal-sync"  # written in intake's access log beside each read


@dataclass(frozen=True)
class Clear:
    id_number: str
    name: str

    def __repr__(self) -> str:  # never printed in a traceback or a log line
        return "Clear(<hidden>)"


class Identities(Protocol):
    async def fetch(self, dossier_codes: list[str]) -> dict[str, Clear]:
        """The clear identity of those dossiers that have one; raise PortalError when unavailable."""


class NoIdentities:
    """No intake configured: the records go without the applicant's identity."""

    async def fetch(self, dossier_codes: list[str]) -> dict[str, Clear]:
        return {}


class IntakeIdentities:
    def __init__(self, client: httpx.AsyncClient, token: str):
        self._client, self._token = client, token

    async def fetch(self, dossier_codes: list[str]) -> dict[str, Clear]:
        try:
            response = await self._client.post(
                "/internal/v1/applicants/read",
                json={"dossier_codes": dossier_codes, "purpose": PURPOSE},
                headers={"Authorization": f"Bearer {self._token}"},
            )
        except httpx.HTTPError as exc:
            raise PortalError(f"intake unreachable for the applicants' identity: {type(exc).__name__}") from exc
        if response.status_code != 200:
            # The body names a field at most, never a value; the status says enough.
            raise PortalError(f"intake refused the applicants' identity: {response.status_code}")
        return {code: Clear(v["id_number"], v.get("name") or "") for code, v in response.json()["applicants"].items()}


def fill_identity(record: dict, clear: Clear | None) -> dict:
    """The record with the applicant named (a copy; the queued record stays without)."""
    if clear is None:
        return record
    kind = "1" if len(clear.id_number) == 12 else "2"  # citizen identity card, or the older 9-digit one (P2)
    return record | {
        "SoGiayToChuHoSo": clear.id_number,
        "ChuHoSo": clear.name,
        "DinhDanhCHS": [{"LoaiDinhDanh": kind, "SoDinhDanh": clear.id_number}],
    }
