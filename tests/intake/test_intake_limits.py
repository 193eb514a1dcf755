"""Intake's limits: 413 for large bodies and batches, 429 with Retry-After per key, and a 500
that shows a correlation id instead of a stack trace."""

from __future__ import annotations

import json

import pytest

from shared.ratelimit import RateLimiter
from tests.intake.harness import client, new_key, received, running_intake

pytestmark = pytest.mark.integration


async def test_too_large_a_body_or_batch_is_413(topics, schemas):
    async with running_intake(topics, schemas, max_body_bytes=20_000, max_batch=10) as app:
        key = await new_key(app, "simulator", ["H44"])
        async with client(app, key) as c:
            padded = received("H44.100-260810-0001")
            padded["source"] = "x" * 30_000  # too large before any field is checked
            assert (await c.post("/v1/events", json=padded)).status_code == 413
            many = [received(f"H44.100-260810-{i:04d}") for i in range(11)]
            too_many = await c.post("/v1/events/batch", json=many)
            assert too_many.status_code == 413 and "at most 10 events" in too_many.json()["detail"]
            assert (await c.post("/v1/events/batch", json=many[:10])).status_code == 200

            async def chunks():  # no Content-Length: the limit is counted as the body streams in
                body = json.dumps(padded).encode()
                for i in range(0, len(body), 4096):
                    yield body[i : i + 4096]

            streamed = await c.post("/v1/events", content=chunks(), headers={"content-type": "application/json"})
            assert streamed.status_code == 413


async def test_over_the_rate_limit_is_429_with_retry_after_per_key(topics, schemas):
    async with running_intake(topics, schemas, rate_limit_per_second=0.5, rate_limit_burst=3) as app:
        busy, quiet = await new_key(app, "busy", ["H44.100"]), await new_key(app, "quiet", ["H44.100"])
        async with client(app, busy) as c:
            answers = [await c.post("/v1/events", json=received(f"H44.100-260811-000{i}")) for i in range(4)]
        assert [a.status_code for a in answers] == [201, 201, 201, 429]
        assert answers[3].headers["Retry-After"] == "2"  # one request every 2 s
        async with client(app, quiet) as c:  # another key has its own budget
            assert (await c.post("/v1/events", json=received("H44.100-260811-0009"))).status_code == 201


def test_the_token_bucket_refills_at_its_rate():
    now = [0.0]
    limiter = RateLimiter(per_second=2, burst=2, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(2)] == [0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)
    now[0] = 0.5
    assert limiter.take("a") == 0.0
    assert limiter.retry_after(0.01) == "1" and limiter.retry_after(2.2) == "3"


def test_idle_clients_are_forgotten_so_memory_stays_bounded():
    now = [0.0]
    limiter = RateLimiter(per_second=1, burst=2, clock=lambda: now[0], max_clients=3)
    for name in "abc":
        limiter.take(name)
    limiter.take("c")  # c is empty now, a and b have one token left
    now[0] = 1.5  # a and b are full again (one token refills in 1 s); c is not
    assert limiter.take("d") == 0.0
    assert set(limiter._buckets) == {"c", "d"}  # dropping full buckets lost nothing
    assert limiter.wait("c") == pytest.approx(0.0) and limiter.take("c") == 0.0
    assert limiter.take("c") == pytest.approx(0.5)  # c's budget was kept (a full one has 2 tokens)


async def test_failed_authentications_are_limited_per_address(topics, schemas):
    async with running_intake(topics, schemas, auth_failures_per_second=0.5, auth_failures_burst=3) as app:
        key = await new_key(app, "counter", ["H44"])
        now = [0.0]
        app.state.auth_failure_limiter.clock = lambda: now[0]
        async with client(app, "dk.nosuchkey.guess") as c:
            answers = [await c.post("/v1/events", json=received("H44.100-260811-0001")) for _ in range(4)]
        assert [a.status_code for a in answers] == [401, 401, 401, 429]
        assert answers[3].headers["Retry-After"] == "2"
        assert "failed authentications" in answers[3].json()["detail"]
        async with client(app, key) as c:
            # The address is refused even with a valid key until its budget refills (no look-up)...
            assert (await c.post("/v1/events", json=received("H44.100-260811-0002"))).status_code == 429
            now[0] = 2.0  # ...which takes 1 / 0.5 s for one attempt
            assert (await c.post("/v1/events", json=received("H44.100-260811-0002"))).status_code == 201
            # A valid key's requests spend nothing of the address's failure budget.
            answers = [await c.post("/v1/events", json=received(f"H44.100-260811-001{i}")) for i in range(3)]
            assert [a.status_code for a in answers] == [201, 201, 201]
