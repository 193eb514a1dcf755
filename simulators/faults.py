"""A simulated system's bad days: a share of calls failing (5xx) or hanging, outages, a rate limit.

Shared by the portal and document-system simulators. Set at start-up from the environment
(PORTAL_SIM_FAIL_RATIO=0.3, DOCSYS_SIM_FAIL_RATIO=…) or at run time through POST /admin/faults,
so tests can break a system while a pipeline is running.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable
from typing import Literal, TypeVar

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
    # Faults after the records were judged and stored: the portal holds them, the caller never hears
    # so (it must re-send, and a re-send may cross a newer one), and late duplicates.
    stored_fail_ratio: float = Field(default=0.0, ge=0, le=1, description="share of syncs stored, then 500")
    stored_hang_ratio: float = Field(default=0.0, ge=0, le=1, description="share of syncs stored, then hang, 504")
    late_ratio: float = Field(
        default=0.0, ge=0, le=1, description="share of syncs stored only after hanging (late), then 504"
    )
    latency_seconds: float = Field(default=0.0, ge=0, description="every sync call takes this long")


Verdict = Literal["ok", "fail", "hang", "down", "limited"]
StoreVerdict = Literal["ok", "stored_fail", "stored_hang", "late"]
T = TypeVar("T")


class Faults:
    """Decides the fate of each call; the clock and the dice are injectable for tests."""

    def __init__(
        self, settings: FaultSettings, *, clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None
    ):
        self._clock = clock
        self._rng = rng or random.Random()
        self.counts: dict[str, int] = {}
        self.configure(settings)

    def configure(self, settings: FaultSettings) -> None:
        self.settings = settings
        self._syncs = 0  # judged by judge_store() since this configuration
        self._struck: dict[str, int] = {}
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

    def judge_store(self) -> StoreVerdict:
        """The fate of a sync call that got past judge(): around the storing of its records.

        Not dice: each fault strikes its exact share, evenly spread, the first halfway through its
        first period (a share of 0.1 strikes syncs 5, 15, 25, ...). These faults are rare and tests
        assert that they struck; with dice, 20 syncs at 10% miss every time one run in eight."""
        s = self.settings
        self._syncs += 1
        verdict: StoreVerdict = "ok"
        shares: tuple[tuple[StoreVerdict, float], ...] = (
            ("stored_fail", s.stored_fail_ratio),
            ("stored_hang", s.stored_hang_ratio),
            ("late", s.late_ratio),
        )
        for kind, share in shares:
            # A fault due on a call another fault took stays due and strikes the next call.
            if verdict == "ok" and math.floor(self._syncs * share + 0.5) > self._struck.get(kind, 0):
                self._struck[kind] = self._struck.get(kind, 0) + 1
                verdict = kind
        if verdict != "ok":  # "ok" is judge()'s count already
            self.counts[verdict] = self.counts.get(verdict, 0) + 1
        return verdict

    async def around_store(self, store: Callable[[], T], abandoned: Callable[[], None] = lambda: None) -> T:
        """Store (store() does it) as the verdict says: after a hang if late; then answer, or fail
        although the records are held (500, or 504 after a hang). A late call is one its caller
        has given up on (the hang outlasts its timeout): abandoned() is called before the hang."""
        verdict = self.judge_store()
        if self.settings.latency_seconds:
            await asyncio.sleep(self.settings.latency_seconds)
        if verdict == "late":
            abandoned()
            await asyncio.sleep(self.settings.hang_seconds)
        result = store()
        if verdict == "stored_fail":
            raise HTTPException(500, detail="internal error after storing (simulated)")
        if verdict in ("stored_hang", "late"):
            if verdict == "stored_hang":
                await asyncio.sleep(self.settings.hang_seconds)
            raise HTTPException(504, detail="gateway timeout (simulated)")
        return result

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
