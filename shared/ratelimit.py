"""Rate limits: a token bucket per client, in this process's memory; and a pacer for our own
calls to someone else's limit.

Clients are API key names (intake), or IP addresses for requests that carry no valid credential
(failed authentication at intake, anonymous reads of the published aggregates).

In memory is a deliberate simplification: each replica limits on its own, so N replicas admit up
to N times the configured rate; a shared limit would need Redis or the database on every request.
Behind a reverse proxy, start uvicorn with --forwarded-allow-ips set to the proxy's address, so
that the client's address (X-Forwarded-For) is the one limited, not the proxy's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import HTTPException, Request


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    per_second: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    # Buckets kept before the full ones are dropped: a full bucket is what a new client gets, so
    # dropping it changes nothing, and memory follows the clients active in the last few seconds.
    max_clients: int = 10_000
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def wait(self, client: str) -> float:
        """Seconds until the client may make a request (0: now); spends nothing."""
        bucket = self._refilled(client)
        return 0.0 if bucket.tokens >= 1.0 else (1.0 - bucket.tokens) / self.per_second

    def take(self, client: str) -> float:
        """Spend one request of the client's budget: 0 if allowed, else seconds until it would be."""
        wait = self.wait(client)
        if wait == 0.0:
            self._buckets[client].tokens -= 1.0
        return wait

    def _refilled(self, client: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self.max_clients:
                self._drop_full(now)
            bucket = self._buckets[client] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.per_second)
        bucket.updated = now
        return bucket

    def _drop_full(self, now: float) -> None:
        self._buckets = {
            c: b for c, b in self._buckets.items() if b.tokens + (now - b.updated) * self.per_second < self.burst
        }

    @staticmethod
    def retry_after(wait: float) -> str:
        """The Retry-After header: whole seconds, at least 1."""
        return str(max(1, math.ceil(wait)))

    def refuse(self, wait: float, detail: str = "rate limit exceeded; retry later") -> HTTPException:
        """The 429 to raise when `wait` > 0."""
        return HTTPException(429, detail=detail, headers={"Retry-After": self.retry_after(wait)})


class Pacer:
    """Spaces our calls to another system's quota (GCRA): each call reserves the next free slot
    and waits until it, so the calls go out in the order they asked, never faster than
    `per_second` once `burst` calls have gone at once."""

    def __init__(self, per_second: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self._interval = 1.0 / per_second
        self._tolerance = (burst - 1) * self._interval  # how far ahead of the rate a call may go
        self._clock = clock
        self._next = -math.inf  # when the rate alone would allow the next call

    def reserve(self) -> float:
        """Take the next slot: the seconds to wait before making the call (0: now)."""
        now = self._clock()
        slot = max(self._next, now)
        self._next = slot + self._interval
        return max(0.0, slot - self._tolerance - now)


def client_ip(request: Request) -> str:
    """The client's address as uvicorn saw it (after its proxy-headers handling)."""
    return request.client.host if request.client else "unknown"
