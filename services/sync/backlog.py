"""The backlog's transactions: claim a chunk, record its outcome, list and re-queue failures.

Each function runs in the caller's session; the caller commits (one commit point).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import CursorResult, Interval, TextClause, and_, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.sync.models import SyncBacklog, SyncState
from shared.db import BulkInsert, any_of


@dataclass(frozen=True)
class Tables:
    """A delivery target's backlog and state tables (the portal's, or the document system's)."""

    backlog: Any
    state: Any


PORTAL = Tables(backlog=SyncBacklog, state=SyncState)


@dataclass(frozen=True)
class Claimed:
    dossier_code: str
    revision: int
    status: int
    received_at: datetime | None
    record: dict[str, Any]
    attempts: int


async def claim(session: AsyncSession, *, limit: int, lease_seconds: float, tables: Tables = PORTAL) -> list[Claimed]:
    """Lease up to `limit` due rows; rows another replica holds are skipped, not waited for."""
    B = tables.backlog
    now = func.now()
    due = (
        select(B.dossier_code)
        .where(~B.parked, B.next_attempt_at <= now, or_(B.leased_until.is_(None), B.leased_until < now))
        .order_by(B.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        # Evaluated once. As a plain `IN (subquery)` the planner may re-run it for every row of a
        # nested loop; each re-run skips the rows this statement has just leased (its own update
        # makes them unlockable) and takes the next due ones: a province-month's run once claimed
        # 1,666 rows with a limit of 500. A materialized CTE is a fixed list.
        .cte("due")
        .prefix_with("MATERIALIZED")
    )
    # One statement: the due rows are locked, leased and returned together.
    rows = await session.execute(
        update(B)
        .where(B.dossier_code.in_(select(due.c.dossier_code)))
        .values(leased_until=now + timedelta(seconds=lease_seconds))
        .returning(B.dossier_code, B.revision, B.status, B.received_at, B.record, B.attempts)
        .execution_options(synchronize_session=False)
    )
    return sorted((Claimed(*r) for r in rows.tuples()), key=lambda c: c.dossier_code)


async def delivered(session: AsyncSession, sent: list[Claimed], *, tables: Tables = PORTAL) -> None:
    """Record what the target now holds; drop the rows unless a newer revision came meanwhile."""
    B, SyncState = tables.backlog, tables.state
    sent = sorted(sent, key=lambda c: c.dossier_code)
    await _lock_in_order(session, sent, B)
    moved = await session.execute(
        _move_to_state(B.__tablename__, SyncState.__tablename__),
        {"codes": [c.dossier_code for c in sent], "revisions": [c.revision for c in sent]},
    )
    in_state = set(moved.scalars())
    # A newer revision came while this one was sent: its row stays queued, and the state takes
    # the record sent from here.
    superseded = [c for c in sent if c.dossier_code not in in_state]
    if superseded:
        await _state_upsert(SyncState).execute(
            session,
            [
                {
                    "dossier_code": c.dossier_code,
                    "revision": c.revision,
                    "status": c.status,
                    "received_at": c.received_at,
                    "record": c.record,
                }
                for c in superseded
            ],
        )
    await _release(session, sent, B)


@cache
def _move_to_state(backlog: str, state: str) -> TextClause:
    """Move the rows still holding the revision sent from the backlog to the state, inside the
    database: the record (kB of JSON) is not decoded, encoded and sent back again for every dossier
    (sync's CPU in the bench's end-to-end phase 6.6 -> 6.3-6.4 core-s). Answers the codes moved."""
    return text(
        f"""
        WITH gone AS (
            DELETE FROM {backlog} b
            USING unnest(CAST(:codes AS varchar[]), CAST(:revisions AS integer[])) AS s(code, revision)
            WHERE b.dossier_code = s.code AND b.revision = s.revision
            RETURNING b.dossier_code, b.revision, b.status, b.received_at, b.record
        ), kept AS (
            INSERT INTO {state} (dossier_code, revision, status, received_at, record)
            SELECT dossier_code, revision, status, received_at, record FROM gone
            {_STATE_CONFLICT.format(name=state)}
        )
        SELECT dossier_code FROM gone
        """
    )


@cache
def _state_upsert(state: type[SyncState]) -> BulkInsert:
    """The target now holds these revisions (one statement a round, not one per dossier; an
    older revision never replaces a newer one)."""
    return BulkInsert(
        state.__table__,
        ["dossier_code", "revision", "status", "received_at", "record"],
        _STATE_CONFLICT.format(name=state.__tablename__),
    )


_STATE_CONFLICT = (
    'ON CONFLICT ("dossier_code") DO UPDATE SET "revision" = EXCLUDED."revision", '
    '"status" = EXCLUDED."status", "record" = EXCLUDED."record", '
    '"received_at" = EXCLUDED."received_at", "synced_at" = now() '
    'WHERE {name}."revision" <= EXCLUDED."revision"'
)


async def release(session: AsyncSession, rows: list[Claimed], *, tables: Tables = PORTAL) -> None:
    """End the lease of rows that were claimed but not sent (due again at once)."""
    await _release(session, sorted(rows, key=lambda c: c.dossier_code), tables.backlog)


async def failed(
    session: AsyncSession, rows: Sequence[tuple[Claimed, str, float | None]], *, park: bool, tables: Tables = PORTAL
) -> None:
    """Count an attempt; retry after its delay (seconds), or park the row when `park`."""
    B = tables.backlog
    if not rows:
        return
    rows = sorted(rows, key=lambda r: r[0].dossier_code)
    await _lock_in_order(session, [c for c, _, _ in rows], B)
    stmt = (
        update(B)
        .where(B.dossier_code == bindparam("code"), B.revision == bindparam("rev"))
        .values(
            attempts=B.attempts + 1,
            last_error=bindparam("error"),
            leased_until=None,
            parked=park,
            next_attempt_at=func.now() + bindparam("delay", type_=Interval),
        )
        .execution_options(synchronize_session=False)
    )
    conn = await session.connection()
    await conn.execute(
        stmt,
        [
            {"code": c.dossier_code, "rev": c.revision, "error": error[:2000], "delay": timedelta(seconds=delay or 0)}
            for c, error, delay in rows
        ],
    )
    await _release(session, [c for c, _, _ in rows], B)


async def _lock_in_order(session: AsyncSession, rows: list[Claimed], B) -> None:
    """Lock the rows by dossier code first: the consumer's upsert locks in the same order,
    so the two never deadlock (each waits for the other instead)."""
    await session.execute(
        select(B.dossier_code)
        .where(any_of(B.dossier_code, [c.dossier_code for c in rows]))
        .order_by(B.dossier_code)
        .with_for_update()
    )


async def _release(session: AsyncSession, rows: list[Claimed], B) -> None:
    # A row superseded while leased keeps its (new) schedule; only its lease ends.
    await session.execute(
        update(B).where(any_of(B.dossier_code, [c.dossier_code for c in rows])).values(leased_until=None)
    )


def _failing(min_attempts: int, B=SyncBacklog):
    return or_(B.parked, B.attempts >= min_attempts)


async def failures(
    session: AsyncSession, *, min_attempts: int, limit: int = 1000, tables: Tables = PORTAL
) -> list[dict]:
    B = tables.backlog
    rows = await session.execute(
        select(B.dossier_code, B.revision, B.status, B.attempts, B.parked, B.last_error, B.next_attempt_at)
        .where(_failing(min_attempts, B))
        .order_by(B.dossier_code)
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


async def counts(session: AsyncSession, *, min_attempts: int, tables: Tables = PORTAL) -> tuple[int, int]:
    """(rows in the backlog, rows failing)."""
    B = tables.backlog
    row = await session.execute(select(func.count(), func.count().filter(_failing(min_attempts, B))).select_from(B))
    return tuple(row.one())


async def oldest(session: AsyncSession, *, tables: Tables = PORTAL) -> datetime | None:
    """When the oldest row still waiting was queued (None: nothing waits)."""
    B = tables.backlog
    return (await session.execute(select(func.min(B.enqueued_at)))).scalar()


async def requeue(session: AsyncSession, codes: list[str] | None, *, min_attempts: int, tables: Tables = PORTAL) -> int:
    """Make failing rows (all, or those named) due now with a fresh attempt count."""
    B = tables.backlog
    where = and_(_failing(min_attempts, B), B.dossier_code.in_(codes)) if codes else _failing(min_attempts, B)
    result = await session.execute(
        update(B).where(where).values(parked=False, attempts=0, next_attempt_at=func.now(), last_error=None)
    )
    return cast(CursorResult[Any], result).rowcount  # DML: SQLAlchemy types it as a plain Result


async def requeue_from_state(session: AsyncSession, codes: list[str], *, tables: Tables = PORTAL) -> int:
    """Send the held record of these dossiers again (reconciliation found the target differs)."""
    B, SyncState = tables.backlog, tables.state
    if not codes:
        return 0
    source = select(
        SyncState.dossier_code, SyncState.revision, SyncState.status, SyncState.received_at, SyncState.record
    ).where(SyncState.dossier_code.in_(codes), SyncState.record.is_not(None))
    stmt = insert(B).from_select(["dossier_code", "revision", "status", "received_at", "record"], source)
    result = await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[B.dossier_code], set_={"next_attempt_at": func.now(), "parked": False, "attempts": 0}
        )
    )
    return cast(CursorResult[Any], result).rowcount  # DML: SQLAlchemy types it as a plain Result
