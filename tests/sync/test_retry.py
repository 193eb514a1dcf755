"""Backoff and the circuit breaker, with a fake clock and seeded dice."""

from __future__ import annotations

import random

from services.sync.retry import CircuitBreaker, backoff_seconds


def test_backoff_doubles_is_capped_and_jittered_within_half_to_full():
    rng = random.Random(7)
    for attempts, full in [(1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (10, 60.0), (30, 60.0)]:
        delays = [backoff_seconds(attempts, base=0.5, cap=60.0, rng=rng) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full / 4  # spread out, not one instant for everybody


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_then_half_opens_and_closes_on_success():
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cool_down=1.0, max_cool_down=4.0, clock=clock)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state == "closed"
    breaker.record_failure()
    assert breaker.state == "open" and breaker.wait_seconds() == 1.0
    clock.now += 1.0
    assert breaker.state == "half-open" and breaker.wait_seconds() == 0
    breaker.record_success()
    assert breaker.state == "closed" and breaker.failures == 0 and breaker.opened == 1


def test_a_failed_trial_reopens_with_a_doubled_cool_down_up_to_the_maximum():
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cool_down=1.0, max_cool_down=4.0, clock=clock)
    breaker.record_failure()
    waits = []
    for _ in range(4):
        clock.now += breaker.wait_seconds()
        assert breaker.state == "half-open"
        breaker.record_failure()
        waits.append(breaker.wait_seconds())
    assert waits == [2.0, 4.0, 4.0, 4.0]
    clock.now += 4.0
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "open" and breaker.wait_seconds() == 1.0  # back to the first cool-down


def test_a_success_between_failures_keeps_the_breaker_closed():
    breaker = CircuitBreaker(threshold=3, clock=Clock())
    for _ in range(10):
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
    assert breaker.state == "closed"
