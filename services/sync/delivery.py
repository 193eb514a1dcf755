"""The delivery worker: drains the backlog to the portal, chunk by chunk, never losing a status.

Claim a chunk (lease, SKIP LOCKED: replicas share the backlog) → send it outside any
transaction → in one transaction record sync_state, queue the `dossier.synced` outcomes and
drop the delivered rows, or count the attempt and schedule the next one with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.sync import backlog
from services.sync.backlog import Claimed
from services.sync.config import SyncSettings
from services.sync.portal import Portal, PortalError, PortalRejected
from services.sync.retry import CircuitBreaker, backoff_seconds
from shared import faultpoints
from shared.event_types import Status, SyncOutcome
from shared.events import make_event, serialize
from shared.outbox import add_to_outbox
from shared.topics import Topics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Meters:
    delivered: Counter
    attempts_failed: Counter
    backlog: Gauge
    failing: Gauge
    breaker_open: Gauge
    oldest: Gauge  # age of the oldest row waiting (deploy/alerts.yml)


def meters(prefix: str, target: str, failures_path: str) -> Meters:
    return Meters(
        Counter(f"{prefix}_delivered_total", f"Dossier revisions the {target} accepted"),
        Counter(f"{prefix}_failed_attempts_total", "Dossier sends that failed", ["kind"]),
        Gauge(f"{prefix}_backlog", f"Dossiers waiting to be delivered to the {target}"),
        Gauge(f"{prefix}_failures", f"Dossiers whose delivery keeps failing (see GET {failures_path})"),
        Gauge(f"{prefix}_circuit_open", f"1 while the circuit breaker keeps calls from the {target}"),
        Gauge(
            f"{prefix}_oldest_undelivered_seconds",
            f"Age of the oldest dossier revision waiting for the {target} (0 when none waits)",
        ),
    )


PORTAL_METERS = meters("sync", "portal", "/v1/sync/failures")


def outcome_message(topics: Topics, c: Claimed) -> tuple[str, str, bytes]:
    """The `dossier.synced` outcome metrics reads; its id makes re-sends idempotent."""
    event = make_event(
        event_id=f"{c.dossier_code}:s{c.revision}",
        type="dossier.synced",
        source="sync",
        subject=c.dossier_code,
        time=datetime.now(UTC),
        data=SyncOutcome(status=Status(c.status), revision=c.revision, ok=True),
    )
    return topics.portal_sync, c.dossier_code, serialize(event)


class DeliveryWorker:
    """Drains one target's backlog. The portal is the default target; the document connector
    passes its own tables, outcome message, chunk size and meters."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker,
        portal: Portal,
        topics: Topics,
        settings: SyncSettings,
        *,
        wake: Callable[[], None] = lambda: None,
        rng: random.Random | None = None,
        breaker: CircuitBreaker | None = None,
        tables: backlog.Tables = backlog.PORTAL,
        outcome: Callable[[Topics, Claimed], tuple[str, str, bytes] | None] | None = None,
        chunk: int | None = None,
        meters: Meters = PORTAL_METERS,
        target: str = "portal",
    ):
        self._sessionmaker, self._portal, self._topics, self._s = sessionmaker, portal, topics, settings
        self._tables, self._outcome = tables, outcome or outcome_message
        self._chunk, self._m, self._target = chunk or settings.portal_chunk, meters, target
        self._wake_relay = wake
        self._rng = rng or random.Random()
        self.breaker = breaker or CircuitBreaker(
            threshold=settings.breaker_threshold,
            cool_down=settings.breaker_cool_down_seconds,
            max_cool_down=settings.breaker_max_cool_down_seconds,
        )
        self._paused_until = 0.0  # the portal's Retry-After
        self._gauges_at = 0.0

    async def run(self) -> None:
        while True:
            try:
                sent = await self.deliver_once()
            except Exception:  # database away: the rows stay leased, then due again
                log.exception("delivery failed; retrying")
                sent = 0
                await asyncio.sleep(1.0)
            await self._refresh_gauges()
            if sent == 0:
                wait = max(self.breaker.wait_seconds(), self._paused_until - time.monotonic())
                await asyncio.sleep(min(max(wait, self._s.idle_seconds), 5.0))

    async def deliver_once(self) -> int:
        """Send one chunk; the number of rows claimed (0 when nothing was due or may be sent)."""
        if self.breaker.state == "open" or time.monotonic() < self._paused_until:
            return 0
        size = 1 if self.breaker.state == "half-open" else self._chunk  # a trial call is small
        async with self._sessionmaker() as session, session.begin():
            chunk = await backlog.claim(session, limit=size, lease_seconds=self._s.lease_seconds, tables=self._tables)
        if not chunk:
            return 0
        # What the target accepted beyond whole deliveries (the portal: records it holds, steps
        # delivered), written below with the round's outcome: one transaction a round.
        accepted: list[tuple[str, str]] = []
        try:
            # As stored: each record was built and validated when it was queued.
            refused = await self._portal.sync([c.record for c in chunk], accepted)
            faultpoints.crash_point("portal-answered", len(chunk))  # answered, not yet recorded
        except PortalError as exc:
            # The target took some before it failed (delivered), or refused them (parked); some
            # were never sent (due again at once, no attempt counted); the rest failed.
            taken = [c for c in chunk if c.dossier_code in exc.taken | exc.refused.keys()]
            untried = [c for c in chunk if c.dossier_code in exc.untried]
            failed = [c for c in chunk if c.dossier_code not in exc.taken | exc.untried | exc.refused.keys()]
            # Some delivered, or some calls answered: the target is up, only some calls failed; the
            # breaker is for outages.
            if not taken and not exc.answered:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()
            await self._settle(accepted, taken, exc.refused, untried=untried, failed=failed, error=exc)
        except PortalRejected as exc:
            self.breaker.record_success()  # the portal answers; the records are at fault
            await self._settle(accepted, chunk, {c.dossier_code: str(exc) for c in chunk})
        else:
            self.breaker.record_success()
            await self._settle(accepted, chunk, refused)
        return len(chunk)

    async def _settle(
        self,
        accepted: list[tuple[str, str]],
        taken: list[Claimed],
        refused: dict[str, str],
        *,
        untried: Sequence[Claimed] = (),
        failed: Sequence[Claimed] = (),
        error: PortalError | None = None,
    ) -> None:
        """Record a round's outcome in one transaction: what the target accepted, the dossiers
        delivered (with their outcome messages), those refused (parked), those never sent
        (released) and those whose calls failed (backoff)."""
        ok = [c for c in taken if c.dossier_code not in refused]
        bad = [(c, refused[c.dossier_code], 0.0) for c in taken if c.dossier_code in refused]
        if error is not None and error.retry_after:
            self._paused_until = time.monotonic() + error.retry_after
        retry = [(c, str(error), self._delay(c, error)) for c in failed] if error is not None else []
        async with self._sessionmaker() as session, session.begin():
            await self._portal.remember(session, accepted)
            if ok:
                await backlog.delivered(session, ok, tables=self._tables)
                messages = [self._outcome(self._topics, c) for c in ok]
                await add_to_outbox(session, [m for m in messages if m is not None])
            if bad:
                await backlog.failed(session, bad, park=True, tables=self._tables)
            if untried:
                await backlog.release(session, list(untried), tables=self._tables)
            if retry:
                await backlog.failed(session, retry, park=False, tables=self._tables)
        self._m.delivered.inc(len(ok))
        if bad:
            self._m.attempts_failed.labels("refused").inc(len(bad))
            log.error(
                "%s refused %d dossiers, e.g. %s: %s", self._target, len(bad), bad[0][0].dossier_code, bad[0][1][:300]
            )
        if error is not None:
            self._m.attempts_failed.labels("unavailable").inc(len(failed))
            log.warning("%s unavailable for %d dossiers: %s", self._target, len(failed), str(error)[:300])
        if ok:
            self._wake_relay()

    def _delay(self, c: Claimed, error: PortalError) -> float:
        """Backoff with jitter, never sooner than the target's Retry-After."""
        backoff = backoff_seconds(
            c.attempts + 1, base=self._s.backoff_base_seconds, cap=self._s.backoff_cap_seconds, rng=self._rng
        )
        return max(error.retry_after or 0, backoff)

    async def _refresh_gauges(self) -> None:
        self._m.breaker_open.set(1 if self.breaker.state == "open" else 0)
        # Every 5 s: counting a busy backlog of wide rows takes ~10-20 ms of the database, and a
        # Prometheus scrape (15 s or more) needs nothing fresher.
        if time.monotonic() - self._gauges_at < 5.0:
            return
        self._gauges_at = time.monotonic()
        try:
            async with self._sessionmaker() as session:
                queued, failing = await backlog.counts(
                    session, min_attempts=self._s.failure_attempts, tables=self._tables
                )
                oldest = await backlog.oldest(session, tables=self._tables)
        except Exception:  # a gauge is not worth failing delivery for
            return
        self._m.backlog.set(queued)
        self._m.failing.set(failing)
        self._m.oldest.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0)
