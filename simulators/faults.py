"""A simulated system's bad days: a share of calls failing (5xx) or hanging, outages, a rate limit.

Shared by the portal and document-system simulators. Set at start-up from the environment
(PORTAL_SIM_FAIL_RATIO=0.3, DOCSYS_SIM_FAIL_RATIO=…) or at run time through POST /admin/faults,
so tests can break a system while a pipeline is running.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Literal

from fastapi import HTTPException
from pydantic import BaseModel, Field


class FaultSettings(BaseModel):
    fail_ratio: float = Field(default=0.0, ge=0, le=1, description="share of calls answered 5xx")
    timeout_ratio: float = Field(default=0.0, ge=0, le=1, description="share of calls that hang")
    down_for_seconds: float = Field(default=0.0, ge=0, description="answer 503 to everything for this long")
    hang_seconds: float = Field(default=30.0, ge=0, description="how long a hanging call hangs")
    # Progress goes 10 steps per call (CapNhatTienDoHoSoMC): a few calls per dossier, not one per 200.
    rate_per_second: float = Field(default=300.0, gt=0, description="calls allowed per second (429 beyond)")
    burst: int = Field(default=300, ge=1, description="calls allowed at once before the rate applies")


Verdict = Literal["ok", "fail", "hang", "down", "limited"]


class Faults:
    """Decides the fate of each call; the clock and the dice are injectable for tests."""

    def __init__(self, settings: FaultSettings, *, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None):
        self._clock = clock
        self._rng = rng or random.Random()
        self.counts: dict[str, int] = {}
        self.configure(settings)

    def configure(self, settings: FaultSettings) -> None:
        self.settings = settings
        self.down_until = self._clock() + settings.down_for_seconds
        self._tokens = float(settings.burst)
        self._refilled = self._clock()

    def retry_after(self) -> int:
        """Whole seconds until a call may succeed again (the Retry-After header)."""
        if self._clock() < self.down_until:
            return max(1, round(self.down_until - self._clock()))
        return 1

    async def answer(self, system: str) -> None:
        """Judge a call and act it out as an HTTP answer: return (ok), or raise the error, after
        hanging first for a timeout. `system` names the simulated system in the 503's detail."""
        verdict = self.judge()
        retry = {"Retry-After": str(self.retry_after())}
        if verdict == "down":
            raise HTTPException(503, detail=f"{system} under maintenance", headers=retry)
        if verdict == "limited":
            raise HTTPException(429, detail="too many requests", headers=retry)
        if verdict == "fail":
            raise HTTPException(500, detail="internal error (simulated)")
        if verdict == "hang":
            await asyncio.sleep(self.settings.hang_seconds)
            raise HTTPException(504, detail="gateway timeout (simulated)")

    def judge(self) -> Verdict:
        verdict = self._judge()
        self.counts[verdict] = self.counts.get(verdict, 0) + 1
        return verdict

    def _judge(self) -> Verdict:
        s, now = self.settings, self._clock()
        if now < self.down_until:
            return "down"
        self._tokens = min(s.burst, self._tokens + (now - self._refilled) * s.rate_per_second)
        self._refilled = now
        if self._tokens < 1:
            return "limited"
        self._tokens -= 1
        dice = self._rng.random()
        if dice < s.fail_ratio:
            return "fail"
        if dice < s.fail_ratio + s.timeout_ratio:
            return "hang"
        return "ok"
