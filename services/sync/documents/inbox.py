"""Polling the document system for its messages: fetch → record (one transaction) → acknowledge.

A crash between commit and acknowledgement means the message is offered again; receive() then
finds it recorded and changes nothing. The system being away only delays the next poll.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.sync.documents.client import HttpDocsys
from services.sync.documents.receive import NotYet, receive
from services.sync.portal import PortalError
from services.sync.retry import backoff_seconds
from shared.topics import Topics

log = logging.getLogger(__name__)
RECEIVED = Counter("docsys_received_total", "Envelopes from the document system", ["outcome"])


class Inbox:
    def __init__(
        self,
        sessionmaker: async_sessionmaker,
        docsys: HttpDocsys,
        topics: Topics,
        *,
        poll_seconds: float,
        wake: Callable[[], None] = lambda: None,
    ):
        self._sessionmaker, self._docsys, self._topics = sessionmaker, docsys, topics
        self._poll, self._wake = poll_seconds, wake
        self._failures = 0
        self._rng = random.Random()

    async def run(self) -> None:
        while True:
            try:
                handled = await self.poll_once()
                self._failures = 0
            except PortalError as exc:
                self._failures += 1
                delay = max(
                    exc.retry_after or 0, backoff_seconds(self._failures, base=self._poll, cap=5, rng=self._rng)
                )
                log.warning("document system unavailable (%s); polling again in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            if handled == 0:
                await asyncio.sleep(self._poll)

    async def poll_once(self, limit: int = 100) -> int:
        """Record the waiting messages in the order they were sent; the number listed.

        At the first message that cannot be taken (fetch or acknowledgement failed, or it answers
        a request still being sent) the round stops: skipping it would apply a later status of the
        same dossier first (e.g. 02 refused, then an older 05 over it). It comes again,
        first, at the next poll."""
        ids = sorted(await self._docsys.pending(limit))
        for message_id in ids:
            try:
                await self._take(message_id)
            except (PortalError, NotYet) as exc:
                log.warning("message %s not taken yet: %s", message_id, exc)
                break
        return len(ids)

    async def _take(self, message_id: int) -> None:
        raw = await self._docsys.fetch(message_id)
        async with self._sessionmaker() as session, session.begin():
            outcome = await receive(
                session, raw, topics=self._topics, system=self._docsys.system, verifier=self._docsys.verifier
            )
        RECEIVED.labels(outcome["outcome"]).inc()
        if outcome["outcome"] == "rejected":
            log.error("document system envelope %s rejected: %s", message_id, outcome["reason"][:300])
        self._wake()  # the relay publishes the new event (or dead letter) now
        await self._docsys.ack(message_id)
