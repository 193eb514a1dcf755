"""Rollups: the facts' counts (aggregates.COUNTERS) summed per unit, procedure, channel and local
day, month and year of reception, kept in the same transaction as the facts.

A report sums the buckets that make its period (whole years, months, days: periods.buckets) instead
of scanning every dossier. Maintenance is retract-and-reassert: before the facts of a batch change,
the batch's dossiers' current contributions are read with the very aggregates that define the
counts; after, again; the difference goes into the buckets (day, month and year alike). So a
replaced revision, a late sync outcome, a dossier moving to another procedure or day, or a
duplicate (no difference) all keep every bucket equal to the GROUP BY of the facts it covers.

Counts that depend on the judging time (aggregates.JUDGED) hold only closed dossiers here; the
open ones are judged per query. When the list of counters changes, `ensure_rollups` rebuilds the
table from the facts at start-up.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection
from datetime import date

from sqlalchemy import DDL, Column, Date, Integer, SmallInteger, String, Table, Text, event, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.aggregates import COUNTERS
from services.metrics.models import Base
from shared.db import BulkInsert

KEYS = ("grain", "bucket", "unit_code", "procedure_code", "channel")
DAY = "(f.received_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date"

rollups = Table(
    "rollups", Base.metadata,
    Column("grain", String(1), primary_key=True),  # 'd' day, 'm' month, 'y' year
    Column("bucket", Date, primary_key=True),  # the bucket's first local day
    Column("unit_code", String(32), primary_key=True),
    Column("procedure_code", String(16), primary_key=True),
    Column("channel", SmallInteger, primary_key=True),
    *(Column(name, Integer, nullable=False, server_default="0") for name in COUNTERS),
)
# Which counters the rollups hold (a digest of their definitions): a change means a rebuild.
rollup_definition = Table(
    "rollup_definition", Base.metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("digest", Text, nullable=False),
)
# The open dossiers, whose time-dependent counts are judged per query: a partial index keeps
# finding them cheap however many closed dossiers the table holds.
event.listen(Base.metadata, "after_create", DDL(
    "CREATE INDEX IF NOT EXISTS ix_dossier_facts_open ON dossier_facts (received_at) WHERE on_time IS NULL"))

DIGEST = hashlib.sha256(repr(sorted(COUNTERS.items())).encode()).hexdigest()
# Rollup maintenance is serialized: two transactions retracting and reasserting the same dossier
# (a partition handed over mid-batch) would otherwise count it twice.
LOCK = text("SELECT pg_advisory_xact_lock(hashtext('metrics.rollups'))")
_CONTRIBUTIONS = text(
    f"SELECT {DAY} AS day, f.unit_code, f.procedure_code, f.channel, "
    + ", ".join(f"{sql} AS {name}" for name, sql in COUNTERS.items())
    + " FROM dossier_facts f LEFT JOIN portal_sync_facts s ON s.dossier_code = f.dossier_code"
    " WHERE f.dossier_code = ANY(:codes) AND f.received_at IS NOT NULL GROUP BY 1, 2, 3, 4")
_ADD = BulkInsert(rollups, [*KEYS, *COUNTERS], "ON CONFLICT ({}) DO UPDATE SET {}".format(
    ", ".join(KEYS), ", ".join(f"{c} = rollups.{c} + EXCLUDED.{c}" for c in COUNTERS)))


async def _contributions(session: AsyncSession, codes: list[str]) -> dict[tuple, list[int]]:
    rows = await session.execute(_CONTRIBUTIONS, {"codes": codes})
    return {(r.day, r.unit_code, r.procedure_code, r.channel): [int(getattr(r, c)) for c in COUNTERS]
            for r in rows}


def _buckets(day: date) -> list[tuple[str, date]]:
    return [("d", day), ("m", day.replace(day=1)), ("y", day.replace(month=1, day=1))]


async def tracking(session: AsyncSession, codes: Collection[str], change: Callable[[], Awaitable[None]]) -> None:
    """Run `change` (which writes the facts of these dossiers) and move the rollups with it."""
    if not codes:
        return
    codes = sorted(codes)
    await session.execute(LOCK)
    before = await _contributions(session, codes)
    await change()
    after = await _contributions(session, codes)
    deltas: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(COUNTERS))
    for sign, contributions in ((-1, before), (1, after)):
        for (day, unit, procedure, channel), values in contributions.items():
            for grain, bucket in _buckets(day):
                total = deltas[(grain, bucket, unit, procedure, channel)]
                for i, v in enumerate(values):
                    total[i] += sign * v
    rows = [dict(zip(KEYS, key)) | dict(zip(COUNTERS, values))
            for key, values in sorted(deltas.items()) if any(values)]
    if rows:
        await _ADD.execute(session, rows)


async def rebuild_rollups(session: AsyncSession) -> None:
    """Replace the rollups by the GROUP BY of the facts (days, then months and years from days)."""
    await session.execute(LOCK)
    await session.execute(text("DELETE FROM rollups"))
    counters = ", ".join(COUNTERS)
    sums = ", ".join(f"sum({c})" for c in COUNTERS)
    await session.execute(text(
        f"INSERT INTO rollups ({', '.join(KEYS)}, {counters}) SELECT 'd', {DAY}, f.unit_code, f.procedure_code, "
        + "f.channel, " + ", ".join(COUNTERS.values())
        + " FROM dossier_facts f LEFT JOIN portal_sync_facts s ON s.dossier_code = f.dossier_code"
        " WHERE f.received_at IS NOT NULL GROUP BY 2, 3, 4, 5"))
    for grain, trunc in (("m", "month"), ("y", "year")):
        await session.execute(text(
            f"INSERT INTO rollups ({', '.join(KEYS)}, {counters}) SELECT '{grain}', "
            f"date_trunc('{trunc}', bucket)::date, unit_code, procedure_code, channel, {sums} "
            "FROM rollups WHERE grain = 'd' GROUP BY 2, 3, 4, 5"))
    await session.execute(text(
        "INSERT INTO rollup_definition (id, digest) VALUES (1, :d) "
        "ON CONFLICT (id) DO UPDATE SET digest = EXCLUDED.digest"), {"d": DIGEST})


async def ensure_rollups(session: AsyncSession) -> None:
    """At start-up: if the rollups were built for other counters, rebuild them from the facts.
    A new counter column is added to the table here first (create_all adds no column)."""
    await session.execute(LOCK)
    stored = (await session.execute(text("SELECT digest FROM rollup_definition WHERE id = 1"))).scalar()
    if stored == DIGEST:
        return
    for name in COUNTERS:
        await session.execute(text(f"ALTER TABLE rollups ADD COLUMN IF NOT EXISTS {name} integer NOT NULL DEFAULT 0"))
    await rebuild_rollups(session)
