"""The procedure catalog as metrics needs it (CLGQ 3.1/3.2, Plan 617's eligible procedures).

Processing owns the catalog; metrics reads its public list (GET /v1/procedures) and keeps it for
a short while. When processing cannot be reached, the last list read is kept; with none read yet
the answer is None and those two components are shown as not scored, never scored against a guess.
A failed read is tried again after a few seconds, not after the whole TTL: one refused request
(processing starting, or busy) must not leave the index without them for a minute.
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple

import httpx

log = logging.getLogger(__name__)


class CatalogEntry(NamedTuple):
    level: str  # PROVINCE or COMMUNE
    online: str  # full, partial or none
    full_online_eligible: bool = False


class CatalogView:
    def __init__(self, ttl: float = 60.0, retry: float = 5.0) -> None:
        self.ttl = ttl
        self.retry = retry
        self._value: dict[str, CatalogEntry] | None = None
        self._read_at = float("-inf")

    async def get(self, http: httpx.AsyncClient) -> dict[str, CatalogEntry] | None:
        if time.monotonic() - self._read_at < self.ttl:
            return self._value
        try:
            response = await http.get("/v1/procedures")
            response.raise_for_status()
            self._value = {
                p["code"]: CatalogEntry(p["level"], p["online"], bool(p.get("full_online_eligible")))
                for p in response.json()
            }
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.warning("procedure catalog unavailable from processing: %s", exc)
            self._read_at = time.monotonic() - self.ttl + min(self.retry, self.ttl)
            return self._value
        self._read_at = time.monotonic()
        return self._value
