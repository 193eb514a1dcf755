"""The document system over HTTP: send a signing request, poll and acknowledge its messages.

Errors use the portal adapter's two kinds, so the shared DeliveryWorker treats them alike:
PortalError (unreachable, 5xx, 429: try again later), and a refusal of one request (422) is
reported per dossier and parks it.
"""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from services.sync.documents.edxml import Organ
from services.sync.documents.request import REQUEST_NOTATION, envelope
from services.sync.documents.signing import SigningKey, Verifier
from services.sync.portal import PortalError, PortalRejected, retry_after

XML = {"Content-Type": "application/xml"}


class HttpDocsys:
    def __init__(
        self,
        client: httpx.AsyncClient,
        system: Organ,
        *,
        key: SigningKey | None = None,
        verifier: Verifier | None = None,
    ):
        """`system`: this dossier system as an edXML organ; `key` signs the requests; `verifier`
        checks the signatures of what comes back (receive.py)."""
        self._client, self.system, self.key, self.verifier = client, system, key, verifier

    async def _call(self, method: str, url: str, **kwargs) -> httpx.Response:
        try:
            response = await self._client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise PortalError(f"document system unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise PortalError(
                f"document system answered {response.status_code}: {response.text[:300]}", retry_after(response.headers)
            )
        return response

    async def sync(self, records: list[dict], accepted: list[tuple[str, str]]) -> dict[str, str]:
        """Send each signing request; return the refused ones (dossier code -> reason).

        One call per request: when one fails, the PortalError names the requests already taken
        (they are delivered) and the rest of the chunk is tried again later. Failing the whole
        chunk instead would, with a share of calls failing, almost never let a chunk through."""
        refused: dict[str, str] = {}
        taken: set[str] = set()
        for i, record in enumerate(records):
            try:
                response = await self._call(
                    "POST", "/edxml/documents", content=envelope(record, self.system, self.key), headers=XML
                )
            except PortalError as exc:
                untried = frozenset(r["dossier_code"] for r in records[i + 1 :])
                raise PortalError(str(exc), exc.retry_after, taken=frozenset(taken), untried=untried) from exc
            if response.status_code == 422:
                refused[record["dossier_code"]] = f"refused: {response.json().get('detail', response.text)[:1000]}"
            elif response.status_code >= 400:
                raise PortalRejected(f"document system refused the call: {response.status_code} {response.text[:300]}")
            else:
                taken.add(record["dossier_code"])
        return refused

    async def remember(self, session: AsyncSession, accepted: list[tuple[str, str]]) -> None:
        """Nothing to write: a request is delivered whole or not at all."""

    async def look_up(self, dossier_code: str) -> dict | None:
        code = f"{dossier_code}/{REQUEST_NOTATION}"  # the request's Number/Notation
        response = await self._call("GET", "/edxml/requests", params={"organ": self.system.id, "code": code})
        return None if response.status_code == 404 else response.json()

    async def pending(self, limit: int = 100) -> list[int]:
        response = await self._call("GET", "/edxml/messages", params={"organ": self.system.id, "limit": limit})
        return [m["id"] for m in response.json()]

    async def fetch(self, message_id: int) -> bytes:
        return (await self._call("GET", f"/edxml/messages/{message_id}")).content

    async def ack(self, message_id: int) -> None:
        await self._call("POST", f"/edxml/messages/{message_id}/ack")
