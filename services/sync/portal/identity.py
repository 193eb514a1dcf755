"""The applicant's clear identity, obtained from intake only to build a record for the portal.

Intake holds the identity number and name encrypted (services/intake/identity.py) and serves
them on an internal endpoint to a service credential, writing an access-log line per dossier
(who, when, for what). Sync keeps them in memory for the one call and never stores or logs
them; why this design rather than a database role is argued in docs/security.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import pydantic_core

from services.sync.portal.client import PortalError
from services.sync.portal.transport import Transport, Unreachable

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
    def __init__(self, transport: Transport, token: str):
        self._transport = transport
        self._headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}

    async def fetch(self, dossier_codes: list[str]) -> dict[str, Clear]:
        body = pydantic_core.to_json({"dossier_codes": dossier_codes, "purpose": PURPOSE})
        try:
            response = await self._transport.post("/internal/v1/applicants/read", body, self._headers)
        except Unreachable as exc:
            raise PortalError(f"intake unreachable for the applicants' identity: {exc}") from exc
        if response.status != 200:
            # The body names a field at most, never a value; the status says enough.
            raise PortalError(f"intake refused the applicants' identity: {response.status}")
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
