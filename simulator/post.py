"""Posting events to intake in batches at a chosen rate, as counter systems would."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx


async def post_events(
    intake_url: str, events: list[dict], *, rate: float, batch: int = 500, concurrency: int = 4
) -> Counter:
    """Post in time order; returns how many were accepted, duplicates, rejected. Bounded by len(events)."""
    totals: Counter = Counter()
    chunks = [events[i : i + batch] for i in range(0, len(events), batch)]
    started = time.monotonic()
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=intake_url, timeout=60) as client:

        async def send(index: int, chunk: list[dict]) -> None:
            # Pace by schedule: chunk i may leave at i*batch/rate seconds after the start.
            delay = started + index * batch / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            async with semaphore:
                response = await client.post("/v1/events/batch", json=chunk)
            if response.status_code not in (200, 207, 422):
                raise RuntimeError(f"intake answered {response.status_code}: {response.text[:300]}")
            body = response.json()
            totals.update(accepted=body["accepted"], duplicates=body["duplicates"], rejected=body["rejected"])

        await asyncio.gather(*(send(i, c) for i, c in enumerate(chunks)))
    return totals
