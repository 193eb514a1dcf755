"""When to try again: exponential backoff with jitter, and a circuit breaker for outages."""

from __future__ import annotations

import random
import time
from collections.abc import Callable


def backoff_seconds(attempts: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Delay before attempt `attempts + 1`: base·2^(attempts-1), capped, with equal jitter.

    Half of the delay is fixed and half random, so retries of many dossiers spread out
    (no thundering herd after an outage) yet never come back immediately.
    """
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return delay / 2 + rng.uniform(0, delay / 2)


class CircuitBreaker:
    """Closed → (threshold failures in a row) → open for cool_down → half-open: one trial call.

    A failed trial opens it again with twice the cool-down (up to max_cool_down); a success
    closes it. While open the delivery worker sends nothing, so an absent portal is not hammered.
    """

    def __init__(
        self,
        *,
        threshold: int = 5,
        cool_down: float = 1.0,
        max_cool_down: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._threshold, self._base, self._max = threshold, cool_down, max_cool_down
        self._clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.cool_down = cool_down
        self.opened = 0  # how many times it opened (exported as a metric)

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "open" if self._clock() < self.opened_at + self.cool_down else "half-open"

    def wait_seconds(self) -> float:
        """How long until a call may be tried (0 when closed or half-open)."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.cool_down - self._clock())

    def record_success(self) -> None:
        self.failures, self.opened_at, self.cool_down = 0, None, self._base

    def record_failure(self) -> None:
        self.failures += 1
        if self.state == "half-open":
            self.cool_down = min(self._max, self.cool_down * 2)
            self.opened_at = self._clock()
            self.opened += 1
        elif self.opened_at is None and self.failures >= self._threshold:
            self.opened_at = self._clock()
            self.opened += 1
