"""The national portal over HTTP, in its own dialect (P1: VietOpenCPS/opencps-v2's DVCQG
integration; docs/portal.md).

A login with username and password returns a session; every call then goes to one integration
URL with the `dstcode` header and a body `{session, madonvi, service, ...}`. The answer carries
one `error_code` for the whole call ("0" is success) and a `message`. A session the portal no
longer accepts means one new login and one retry; the password is never logged or echoed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import pydantic_core
from sqlalchemy.ext.asyncio import AsyncSession

from services.sync.portal.record import SUCCESS, HoSo
from services.sync.portal.transport import Reply, Transport, Unreachable
from shared.ratelimit import Pacer

log = logging.getLogger(__name__)
# The session error: HTTP 401, or this error_code in a 200 answer (the simulator uses both).
SESSION_ERROR = "-1"


class PortalError(Exception):
    """The portal could not be reached or failed (5xx, 429, timeout): try again later."""

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        *,
        taken: frozenset[str] = frozenset(),
        untried: frozenset[str] = frozenset(),
        answered: bool = False,
        refused: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.refused = refused or {}  # dossiers the target refused in the same round: parked
        self.retry_after = retry_after
        # Some calls of the round succeeded: the target is up, only some calls failed (not an
        # outage for the circuit breaker).
        self.answered = answered
        # For targets called more than once per chunk: the dossiers delivered before the failure,
        # and those not tried yet (no attempt to count); the rest failed.
        self.taken, self.untried = taken, untried


class PortalRejected(Exception):
    """The portal refused the whole call as malformed (4xx): sending it again as is will not help."""


class Portal(Protocol):
    async def sync(self, records: list[dict], accepted: list[tuple[str, str]]) -> dict[str, str]:
        """Deliver queued payloads; return the refused ones (dossier code -> the portal's message).

        What the target accepted beyond whole deliveries (the portal: records it holds, steps
        delivered) is added to `accepted`, also when the call then fails, for `remember`.
        Raise PortalError when delivery failed (naming what was taken), PortalRejected when the
        call was refused as a whole."""

    async def remember(self, session: AsyncSession, accepted: list[tuple[str, str]]) -> None:
        """Write `accepted` in the transaction that records the round's outcome."""

    async def look_up(self, code: str):
        """What the target holds for a dossier, None if nothing."""


@dataclass(frozen=True)
class Answer:
    code: str  # error_code, as a string ("0" success)
    message: str
    result: list | None = None

    @property
    def ok(self) -> bool:
        return self.code == SUCCESS


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The seconds an answer's Retry-After asks for (headers of either HTTP client: both match
    names without case)."""
    try:
        return float(headers["Retry-After"])
    except (KeyError, ValueError):
        return None


class PortalClient:
    """Login, session reuse and the three services sync uses."""

    def __init__(
        self,
        transport: Transport,
        *,
        username: str,
        password: str,
        dstcode: str,
        madonvi: str,
        auth_path: str = "/api/session",
        service_path: str = "/api/integration",
        quota: Pacer | None = None,
    ):
        self._transport = transport
        # The portal's call quota for this account, kept on our side: a call beyond it would be
        # answered 429 with a Retry-After of at least a second, during which nothing is sent.
        self._quota = quota
        self._credentials = {"username": username, "password": password}
        self._headers = {"dstcode": dstcode, "content-type": "application/json"}
        self._madonvi, self._auth_path, self._service_path = madonvi, auth_path, service_path
        self._session: str | None = None
        self.logins = 0

    async def _post(self, path: str, body: dict) -> Reply:
        if self._quota is not None and (wait := self._quota.reserve()):
            await asyncio.sleep(wait)  # paced: this call's slot in the quota
        try:
            # Rust encoder: a chunk of records is about a megabyte of JSON.
            response = await self._transport.post(path, pydantic_core.to_json(body), self._headers)
        except Unreachable as exc:
            raise PortalError(f"portal unreachable: {exc}") from exc
        if response.status == 429 or response.status >= 500:
            raise PortalError(
                f"portal answered {response.status}: {response.text[:300]}", retry_after(response.headers)
            )
        return response

    async def login(self) -> None:
        self._session = None
        response = await self._post(self._auth_path, self._credentials)
        answer = _answer(response)
        session = response.json().get("session") if response.status == 200 else None
        if not answer.ok or not session:
            # A refused login is a configuration matter; the breaker keeps sync from insisting.
            raise PortalError(f"portal login refused: {response.status} {answer.code} {answer.message[:200]}")
        self._session = session
        self.logins += 1

    async def call(self, service: str, **fields) -> Answer:
        """One call; a rejected session is renewed once."""
        for _ in range(2):
            if self._session is None:
                await self.login()
            body = {"session": self._session, "madonvi": self._madonvi, "service": service, **fields}
            response = await self._post(self._service_path, body)
            answer = _answer(response)
            if response.status == 401 or answer.code == SESSION_ERROR:
                self._session = None  # expired or revoked: log in again, once
                continue
            if response.status != 200:
                raise PortalRejected(f"portal refused the call: {response.status} {response.text[:300]}")
            return answer
        raise PortalError("portal refused a fresh session")

    async def look_up(self, code: str) -> HoSo | None:
        """TraCuuHoSo: the record the portal holds for MaHoSo `code`, None if none."""
        answer = await self.call("TraCuuHoSo", mahoso=code)
        if not answer.ok:
            raise PortalRejected(f"TraCuuHoSo refused: {answer.code} {answer.message[:300]}")
        return HoSo.model_validate(answer.result[0]) if answer.result else None

    async def send_records(self, records: list[dict], *, updating: bool) -> Answer:
        """DongBoHoSoMC: "False" creates dossiers the portal does not hold, "True" updates."""
        return await self.call("DongBoHoSoMC", isUpdating="True" if updating else "False", data=records)

    async def send_progress(self, steps: list[dict]) -> Answer:
        """CapNhatTienDoHoSoMC: processing steps of dossiers the portal holds."""
        return await self.call("CapNhatTienDoHoSoMC", data=steps)


def _answer(response: Reply) -> Answer:
    try:
        body = response.json()
    except ValueError:
        return Answer("?", response.text[:300])
    if not isinstance(body, dict):
        return Answer("?", str(body)[:300])
    # P1 reads error_code as a number, P2 as a string: either is understood.
    return Answer(str(body.get("error_code", "?")), str(body.get("message", ""))[:2000], body.get("result"))
