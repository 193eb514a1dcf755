"""Posting events to intake in batches at a chosen rate, as counter systems would."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter

import httpx

MAX_THROTTLED = 20  # a 429 is retried after its Retry-After, this many times per batch at most


async def post_events(
    intake_url: str,
    events: list[dict],
    *,
    rate: float,
    batch: int = 500,
    concurrency: int = 4,
    api_key: str | None = None,
) -> Counter:
    """Post in time order; returns how many were accepted, duplicates, rejected. Bounded by len(events).

    Authenticates with api_key, or the SIMULATOR_API_KEY environment variable.
    """
    totals: Counter = Counter()
    chunks = [events[i : i + batch] for i in range(0, len(events), batch)]
    started = time.monotonic()
    semaphore = asyncio.Semaphore(concurrency)
    api_key = api_key or os.environ.get("SIMULATOR_API_KEY")
    if not api_key:
        raise ValueError("intake needs an API key: pass --api-key or set SIMULATOR_API_KEY")
    headers = {"X-API-Key": api_key}
    async with httpx.AsyncClient(base_url=intake_url, timeout=60, headers=headers) as client:

        async def send(index: int, chunk: list[dict]) -> None:
            # Pace by schedule: chunk i may leave at i*batch/rate seconds after the start.
            delay = started + index * batch / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            async with semaphore:
                response = await client.post("/v1/events/batch", json=chunk)
                for _ in range(MAX_THROTTLED):
                    if response.status_code != 429:
                        break
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                    response = await client.post("/v1/events/batch", json=chunk)
            if response.status_code not in (200, 207, 422):
                raise RuntimeError(f"intake answered {response.status_code}: {response.text[:300]}")
            body = response.json()
            totals.update(accepted=body["accepted"], duplicates=body["duplicates"], rejected=body["rejected"])

        await asyncio.gather(*(send(i, c) for i, c in enumerate(chunks)))
    return totals
