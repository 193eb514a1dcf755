"""The overdue timer: when an open dossier's deadline passes, it becomes overdue at that moment.

The timer records a synthetic `dossier.deadline_passed` event (deterministic id, so replicas
firing together add it once) and re-folds the dossier, which publishes its new state. A deadline
already passed when a dossier is folded (its events came late) is recorded by that fold
(refold.py); the timer is for the deadlines that pass while the dossier waits.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.processing.catalog import CatalogCache
from services.processing.models import Dossier
from services.processing.refold import INSERT_EVENTS, deadline_event, lock_dossiers, refold
from services.processing.workcalendar import WorkCalendar
from services.processing.working import FoldRules
from shared.db import any_of, commit_without_flush_wait
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
    due = (Dossier.overdue_pending, Dossier.deadline_at <= now)
    codes = (
        (await session.execute(select(Dossier.code).where(*due).order_by(Dossier.deadline_at).limit(limit)))
        .scalars()
        .all()
    )
    if not codes:
        return 0
    # The dossiers' locks first, as a fold takes them (refold.py): a fold holding one may be
    # recording this very deadline, and the timer then waits for it instead of racing it. Read
    # again once locked: what is still due now is what a fold has not recorded meanwhile.
    await lock_dossiers(session, sorted(codes))
    rows = await session.execute(select(Dossier.code, Dossier.deadline_at).where(any_of(Dossier.code, codes), *due))
    events = [deadline_event(code, deadline) for code, deadline in rows.tuples() if deadline is not None]
    # Only the dossiers whose event this replica inserted are re-folded: when two replicas fire
    # together, the second one waits for the first's locks and then finds nothing due, so each
    # deadline is recorded, folded and published once.
    inserted = set((await INSERT_EVENTS.execute(session, events)).scalars()) if events else set()
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
