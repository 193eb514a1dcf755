"""Reconciliation: compare what we believe the portal holds with what it does, re-queue the rest.

    python -m services.sync.reconcile --from 2026-08-01 --to 2026-08-31

Dossiers are chosen by reception date (Asia/Ho_Chi_Minh), else by when they were synced. Each is
looked up (TraCuuHoSo), `concurrency` at a time, each look-up retried with backoff; a missing or
different record is queued again from sync_state. Progress goes to stderr; the summary names
the dossiers that differed and, for each, which fields (never their values: they may name the
applicant).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time as clock
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.sync import backlog
from services.sync.config import SyncSettings
from services.sync.portal.client import Portal, PortalError, PortalRejected
from services.sync.portal.codec import Dialect
from services.sync.portal.identity import NoIdentities
from services.sync.portal.record import IDENTITY_FIELDS, PORTAL_TZ
from services.sync.portal.sender import PortalSender, portal_differs
from services.sync.portal.transport import AiohttpTransport
from shared.db import make_engine, make_sessionmaker
from shared.units import load_units

Progress = Callable[[int, int], None]


async def _look_up(portal: Portal, code: str, attempts: int = 5) -> Any:
    delay = 0.2
    for _ in range(attempts):
        try:
            return await portal.look_up(code)
        except (PortalError, PortalRejected) as exc:
            error: Exception = exc
            await asyncio.sleep(max(delay, getattr(exc, "retry_after", None) or 0))  # backoff per dossier
            delay *= 2
    return error


def fields_differing(found: Any, held: dict) -> list[str]:
    """Which record fields differ (for the summary); every field when the portal holds nothing."""
    mine = held.get("record", {}) if isinstance(held, dict) else {}
    if found is None or not hasattr(found, "model_dump"):
        return ["(missing)"]
    theirs = found.model_dump(mode="json")
    return sorted(k for k in mine.keys() | theirs.keys() if k not in IDENTITY_FIELDS and mine.get(k) != theirs.get(k))


async def reconcile(
    sessionmaker: async_sessionmaker,
    portal: Portal,
    *,
    start: date,
    end: date,
    concurrency: int = 8,
    tables: backlog.Tables = backlog.PORTAL,
    differs: Callable[[Any, dict], bool] = portal_differs,
    progress: Progress | None = None,
    details: dict | None = None,
) -> dict[str, int]:
    """Check every dossier of [start, end] against a delivery target (the portal by default);
    return what was checked, differed, re-queued, unchecked. `details`, when given, receives the
    differing dossiers and their differing fields."""
    SyncState = tables.state
    low = datetime.combine(start, time(), PORTAL_TZ)
    high = datetime.combine(end + timedelta(days=1), time(), PORTAL_TZ)
    day = func.coalesce(SyncState.received_at, SyncState.synced_at)
    async with sessionmaker() as session:
        rows = await session.execute(
            select(SyncState.dossier_code, SyncState.record).where(
                day >= low, day < high, SyncState.record.is_not(None)
            )
        )
        held = dict(rows.tuples().all())
    semaphore = asyncio.Semaphore(concurrency)  # bounded: the portal is shared with every province
    done = 0

    async def check(code: str) -> Any:
        nonlocal done
        async with semaphore:
            found = await _look_up(portal, code)
        done += 1
        if progress:
            progress(done, len(held))
        return found

    found = dict(zip(held, await asyncio.gather(*(check(c) for c in held)), strict=True))
    unchecked = [c for c, r in found.items() if isinstance(r, Exception)]
    differing = [c for c, r in found.items() if not isinstance(r, Exception) and differs(r, held[c])]
    if details is not None:
        details |= {c: fields_differing(found[c], held[c]) for c in differing}
    async with sessionmaker() as session, session.begin():
        requeued = await backlog.requeue_from_state(session, differing, tables=tables)
    return {
        "checked": len(held) - len(unchecked),
        "differences": len(differing),
        "requeued": requeued,
        "unchecked": len(unchecked),
    }


def summary(details: dict[str, list[str]], listed: int = 1000) -> dict[str, Any]:
    """What differed: how many dossiers per field, and the first `listed` dossiers."""
    by_field: dict[str, int] = {}
    for fields in details.values():
        for f in fields:
            by_field[f] = by_field.get(f, 0) + 1
    return {"fields_differing": dict(sorted(by_field.items())), "dossiers_differing": sorted(details)[:listed]}


def stderr_progress(every_seconds: float = 2.0) -> Progress:
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = clock.monotonic()
        if done == total or now - last[0] >= every_seconds:
            last[0] = now
            print(f"reconcile: {done}/{total} looked up", file=sys.stderr, flush=True)

    return report


async def _main(start: date, end: date, concurrency: int | None) -> dict:
    from services.sync.app import portal_client

    settings = SyncSettings()
    engine = make_engine(settings.database_url, settings.db_schema)
    try:
        async with AiohttpTransport(settings.portal_url, settings.portal_timeout_seconds) as client:
            sessionmaker = make_sessionmaker(engine)
            portal = PortalSender(
                portal_client(client, settings),
                sessionmaker,
                Dialect(load_units(), settings.dossier_code_pattern),
                NoIdentities(),
            )
            details: dict[str, list[str]] = {}
            result = await reconcile(
                sessionmaker,
                portal,
                start=start,
                end=end,
                concurrency=concurrency or settings.reconcile_concurrency,
                progress=stderr_progress(),
                details=details,
            )
            return result | summary(details)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="start", type=date.fromisoformat, required=True)
    parser.add_argument("--to", dest="end", type=date.fromisoformat, required=True)
    parser.add_argument("--concurrency", type=int, help="look-ups in flight (default SYNC_RECONCILE_CONCURRENCY)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_main(args.start, args.end, args.concurrency)), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
