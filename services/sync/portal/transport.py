"""HTTP POSTs to the portal and to intake's identity endpoint, on aiohttp.

Delivery makes several thousand small calls a minute (progress steps go ten to a call). httpx
spent ~800 µs of CPU on each call's request and response objects, aiohttp ~150 µs (measured
against the same local server, four calls in flight): in the bench that was a quarter of sync's
CPU, and sync is the last stage to finish. The callers see only `Reply` and `Unreachable`, so a
test can answer through its own `Transport` in process.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from yarl import URL


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class Unreachable(Exception):
    """No answer: refused connection, reset, timeout. The message names the kind, never a body."""


class Transport(Protocol):
    async def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> Reply: ...


class AiohttpTransport:
    """One connection pool to one base URL; use as an async context manager."""

    def __init__(self, base_url: str, timeout_seconds: float):
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._urls: dict[str, URL] = {}  # parsed once per path: two or three paths in all
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AiohttpTransport:
        # No cookie jar: neither the portal's session nor intake's credential is a cookie.
        self._session = aiohttp.ClientSession(timeout=self._timeout, cookie_jar=aiohttp.DummyCookieJar())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        if self._session is None:
            raise RuntimeError("AiohttpTransport used outside its async with")
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = URL(self._base + path)
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                return Reply(response.status, response.headers, await response.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from exc
