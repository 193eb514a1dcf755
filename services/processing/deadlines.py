"""The overdue timer: when an open dossier's deadline passes, it becomes overdue at that moment.

The timer records a synthetic `dossier.deadline_passed` event (deterministic id, so replicas
firing together add it once) and re-folds the dossier, which publishes its new state.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.processing.catalog import CatalogCache
from services.processing.models import Dossier
from services.processing.refold import INSERT_EVENTS, refold
from services.processing.workcalendar import WorkCalendar
from services.processing.working import FoldRules
from shared.db import commit_without_flush_wait
from shared.topics import Topics


async def fire_due_deadlines(
    session: AsyncSession,
    now: datetime,
    *,
    calendar: WorkCalendar,
    catalog: CatalogCache,
    topics: Topics,
    limit: int = 500,
    rules: FoldRules = FoldRules(),
) -> int:
    """Mark the open dossiers whose deadline has passed by `now`; returns how many."""
    rows = await session.execute(
        select(Dossier.code, Dossier.deadline_at)
        .where(Dossier.overdue_pending, Dossier.deadline_at <= now)
        .order_by(Dossier.deadline_at)
        .limit(limit)
    )
    due = rows.tuples().all()
    if not due:
        return 0
    events: list[dict[str, Any]] = [
        {
            "id": f"{code}:d{int(deadline.timestamp())}",
            "dossier_code": code,
            "type": "dossier.deadline_passed",
            "time": deadline,
            "source": "processing-timer",
            "data": {},
        }
        for code, deadline in due
        if deadline is not None  # (never NULL: deadline_at <= now)
    ]
    # Only the dossiers whose event this replica inserted are re-folded: when two replicas fire
    # together, the second one's insert waits for the first's commit and then adds nothing, so
    # each deadline is recorded, folded and published once.
    inserted = set((await INSERT_EVENTS.execute(session, events)).scalars())
    if inserted:
        await refold(session, inserted, calendar=calendar, catalog=catalog, topics=topics, rules=rules)
    return len(inserted)


async def run_overdue_timer(
    sessionmaker: async_sessionmaker,
    *,
    calendar: WorkCalendar,
    catalog: CatalogCache,
    topics: Topics,
    wake,
    interval: float = 0.5,
    rules: FoldRules = FoldRules(),
) -> None:
    """Check twice a second (a timer with sub-second lateness, not a nightly batch)."""
    while True:
        async with sessionmaker() as session, session.begin():
            await commit_without_flush_wait(session)  # lost, it fires again: the event id is deterministic
            fired = await fire_due_deadlines(
                session, datetime.now(UTC), calendar=calendar, catalog=catalog, topics=topics, rules=rules
            )
        if fired:
            wake()
        else:
            await asyncio.sleep(interval)
