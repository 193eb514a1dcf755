"""Intake's limits: 413 for large bodies and batches, 429 with Retry-After per key, and a 500
that shows a correlation id instead of a stack trace."""

from __future__ import annotations

import json

import pytest

from services.intake.ratelimit import RateLimiter
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


async def test_an_unexpected_error_answers_a_correlation_id_and_no_trace(topics, schemas):
    async with running_intake(topics, schemas) as app:
        key = await new_key(app, "simulator", ["H44"])

        def broken(*args, **kwargs):
            raise RuntimeError("secret internals: password=hunter2")

        app.state.runtime.relay.wake = broken  # fails after the commit, inside the handler
        async with client(app, key) as c:
            response = await c.post("/v1/events", json=received("H44.100-260812-0001"))
    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"detail", "correlation_id"}
    assert response.headers["X-Correlation-ID"] == body["correlation_id"]
    assert "hunter2" not in response.text and "Traceback" not in response.text


async def test_deeply_nested_json_is_a_client_error_not_a_crash(topics, schemas):
    async with running_intake(topics, schemas) as app:
        key = await new_key(app, "simulator", ["H44"])
        async with client(app, key) as c:
            deep = "[" * 100_000 + "]" * 100_000  # 200 KB, under the size limit
            response = await c.post("/v1/events/batch", content=deep, headers={"content-type": "application/json"})
    assert response.status_code == 400
