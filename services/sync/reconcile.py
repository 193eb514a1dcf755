"""Reconciliation: compare what we believe the portal holds with what it does, re-queue the rest.

    python -m services.sync.reconcile --from 2026-08-01 --to 2026-08-31

Dossiers are chosen by reception date (Asia/Ho_Chi_Minh), else by when they were synced. Each is
looked up (TraCuuHoSo); a missing or different record is queued again from sync_state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.portal_simulator.records import PORTAL_TZ, PortalDossier
from services.sync import backlog
from services.sync.config import SyncSettings
from services.sync.portal import HttpPortal, Portal, PortalError
from shared.db import make_engine, make_sessionmaker


async def _look_up(portal: Portal, code: str, attempts: int = 5) -> PortalDossier | None | Exception:
    delay = 0.2
    for _ in range(attempts):
        try:
            return await portal.look_up(code)
        except PortalError as exc:
            error: Exception = exc
            await asyncio.sleep(max(delay, exc.retry_after or 0))  # backoff between look-ups of one dossier
            delay *= 2
    return error


def portal_differs(found: PortalDossier | None, held: dict) -> bool:
    """The portal lost the record, or holds another one."""
    return found is None or found.model_dump(mode="json") != held


async def reconcile(sessionmaker: async_sessionmaker, portal: Portal, *, start: date, end: date,
                    concurrency: int = 8, tables: backlog.Tables = backlog.PORTAL,
                    differs: Callable[[Any, dict], bool] = portal_differs) -> dict[str, int]:
    """Check every dossier of [start, end] against a delivery target (the portal by default);
    return what was checked, differed, re-queued, unchecked."""
    SyncState = tables.state
    low = datetime.combine(start, time(), PORTAL_TZ)
    high = datetime.combine(end + timedelta(days=1), time(), PORTAL_TZ)
    day = func.coalesce(SyncState.received_at, SyncState.synced_at)
    async with sessionmaker() as session:
        rows = await session.execute(
            select(SyncState.dossier_code, SyncState.record)
            .where(day >= low, day < high, SyncState.record.is_not(None))
        )
        held = dict(rows.tuples().all())
    semaphore = asyncio.Semaphore(concurrency)

    async def check(code: str) -> PortalDossier | None | Exception:
        async with semaphore:
            return await _look_up(portal, code)

    found = dict(zip(held, await asyncio.gather(*(check(c) for c in held)), strict=True))
    unchecked = [c for c, r in found.items() if isinstance(r, Exception)]
    differing = [c for c, r in found.items() if not isinstance(r, Exception) and differs(r, held[c])]
    async with sessionmaker() as session, session.begin():
        requeued = await backlog.requeue_from_state(session, differing, tables=tables)
    return {"checked": len(held) - len(unchecked), "differences": len(differing), "requeued": requeued,
            "unchecked": len(unchecked)}


async def _main(start: date, end: date) -> dict[str, int]:
    settings = SyncSettings()
    engine = make_engine(settings.database_url, settings.db_schema)
    try:
        async with httpx.AsyncClient(base_url=settings.portal_url, timeout=settings.portal_timeout_seconds) as client:
            portal = HttpPortal(client, settings.portal_username, settings.portal_password.get_secret_value())
            return await reconcile(make_sessionmaker(engine), portal, start=start, end=end,
                                   concurrency=settings.reconcile_concurrency)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="start", type=date.fromisoformat, required=True)
    parser.add_argument("--to", dest="end", type=date.fromisoformat, required=True)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_main(args.start, args.end))))


if __name__ == "__main__":
    main()
