"""Rollups: the facts' counts summed per unit, procedure, channel and local day, month and year of
reception (`rollups`), and the open dossiers per unit, day of reception and deadline
(`open_rollups`), both kept in the same transaction as the facts.

A report sums the buckets that make its period (whole years, months, days: periods.buckets) instead
of scanning every dossier, and judges the open dossiers from their summary (aggregates.count).
Maintenance is retract-and-reassert: before the facts of a batch change, the batch's dossiers'
current contributions are read with the very aggregates that define the counts; after, again; the
difference goes into the buckets. So a replaced revision, a late sync outcome, a dossier moving to
another procedure or day, a dossier closing, or a duplicate (no difference) all keep every bucket
equal to the GROUP BY of the facts it covers. When the list of counts changes, `ensure_rollups`
rebuilds both tables from the facts at start-up.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import date

from sqlalchemy import DDL, Column, Date, DateTime, Integer, SmallInteger, String, Table, Text, event, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.aggregates import COUNTERS, JUDGED
from services.metrics.models import Base
from shared.db import BulkInsert

DAY = "(f.received_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date"
FACTS = "FROM dossier_facts f LEFT JOIN portal_sync_facts s ON s.dossier_code = f.dossier_code"
OPEN_COUNTERS = {"n": "count(*)"} | {name: f"count(*) FILTER (WHERE {cond})" for name, cond in JUDGED.items()}

rollups = Table(
    "rollups", Base.metadata,
    Column("grain", String(1), primary_key=True),  # 'd' day, 'm' month, 'y' year
    Column("bucket", Date, primary_key=True),  # the bucket's first local day
    Column("unit_code", String(32), primary_key=True),
    Column("procedure_code", String(16), primary_key=True),
    Column("channel", SmallInteger, primary_key=True),
    *(Column(name, Integer, nullable=False, server_default="0") for name in COUNTERS),
)
# Open dossiers (on_time IS NULL) with a deadline: few (those of the last weeks), and their deadlines
# cluster at 17:00 of working days, so a report judges thousands of rows, not a month of dossiers.
open_rollups = Table(
    "open_rollups", Base.metadata,
    Column("unit_code", String(32), primary_key=True),
    Column("day", Date, primary_key=True),  # local day of reception
    Column("deadline_at", DateTime(timezone=True), primary_key=True),
    *(Column(name, Integer, nullable=False, server_default="0") for name in OPEN_COUNTERS),
)
# Which counts the rollups hold (a digest of their definitions): a change means a rebuild.
rollup_definition = Table(
    "rollup_definition", Base.metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("digest", Text, nullable=False),
)
# One unit's breakdown by procedure or channel judges its open dossiers from the facts.
event.listen(Base.metadata, "after_create", DDL(
    "CREATE INDEX IF NOT EXISTS ix_dossier_facts_open ON dossier_facts (received_at) WHERE on_time IS NULL"))


@dataclass(frozen=True, eq=False)  # hashed by identity: one per table
class Projection:
    """A table of sums: per key (SQL over the facts f and sync s), the counters' aggregates."""

    table: Table
    keys: dict[str, str]  # column -> SQL expression over f
    counters: dict[str, str]  # column -> aggregate SQL over f, s
    where: str

    def select(self, extra: str = "") -> str:
        return (f"SELECT {', '.join(self.keys.values())}, "
                + ", ".join(self.counters.values())
                + f" {FACTS} WHERE {self.where}{extra} GROUP BY {', '.join(self.keys.values())}")


def adding(table: Table, keys: list[str], counters: Collection[str]) -> BulkInsert:
    """Insert rows of deltas, or add them to the row with the same key."""
    sets = ", ".join(f"{c} = {table.name}.{c} + EXCLUDED.{c}" for c in counters)
    return BulkInsert(table, [*keys, *counters], f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}")


# The day buckets of `rollups` (months and years are summed from the same contributions).
DAYS = Projection(rollups, {"bucket": DAY, "unit_code": "f.unit_code", "procedure_code": "f.procedure_code",
                            "channel": "f.channel"}, COUNTERS, "f.received_at IS NOT NULL")
OPEN = Projection(open_rollups, {"unit_code": "f.unit_code", "day": DAY, "deadline_at": "f.deadline_at"},
                  OPEN_COUNTERS, "f.received_at IS NOT NULL AND f.on_time IS NULL AND f.deadline_at IS NOT NULL")
_ADD_ROLLUPS = adding(rollups, ["grain", *DAYS.keys], COUNTERS)
_ADD_OPEN = adding(open_rollups, list(OPEN.keys), OPEN_COUNTERS)
_CONTRIBUTIONS = {p: text(p.select(" AND f.dossier_code = ANY(:codes)")) for p in (DAYS, OPEN)}

DIGEST = hashlib.sha256(repr([sorted(COUNTERS.items()), sorted(OPEN_COUNTERS.items()), OPEN.where]).encode()).hexdigest()
# Rollup maintenance is serialized: two transactions retracting and reasserting the same dossier
# (a partition handed over mid-batch) would otherwise count it twice.
LOCK = text("SELECT pg_advisory_xact_lock(hashtext('metrics.rollups'))")


async def _contributions(session: AsyncSession, codes: list[str]) -> dict[Projection, dict[tuple, list[int]]]:
    """Per projection: key -> the counters' values for these dossiers' current facts."""
    out = {}
    for projection, statement in _CONTRIBUTIONS.items():
        width = len(projection.keys)
        out[projection] = {tuple(r[:width]): list(r[width:]) for r in await session.execute(statement, {"codes": codes})}
    return out


def _deltas(before: dict[tuple, list[int]], after: dict[tuple, list[int]], expand) -> dict[tuple, list[int]]:
    deltas: dict[tuple, list[int]] = {}
    for sign, contributions in ((-1, before), (1, after)):
        for key, values in contributions.items():
            for expanded in expand(key):
                total = deltas.setdefault(expanded, [0] * len(values))
                for i, v in enumerate(values):
                    total[i] += sign * v
    return {k: v for k, v in deltas.items() if any(v)}


def _grains(key: tuple) -> list[tuple]:
    day: date = key[0]
    return [("d", *key), ("m", day.replace(day=1), *key[1:]), ("y", day.replace(month=1, day=1), *key[1:])]


async def tracking(session: AsyncSession, codes: Collection[str], change: Callable[[], Awaitable[None]]) -> None:
    """Run `change` (which writes the facts of these dossiers) and move the rollups with it."""
    if not codes:
        return
    codes = sorted(codes)
    await session.execute(LOCK)
    before = await _contributions(session, codes)
    await change()
    after = await _contributions(session, codes)
    days = _deltas(before[DAYS], after[DAYS], _grains)
    if days:
        await _ADD_ROLLUPS.execute(session, [dict(zip(_ADD_ROLLUPS.columns, (*k, *v))) for k, v in sorted(days.items())])
    opened = _deltas(before[OPEN], after[OPEN], lambda key: [key])
    if opened:
        await _ADD_OPEN.execute(session, [dict(zip(_ADD_OPEN.columns, (*k, *v))) for k, v in sorted(opened.items())])
        # Closed dossiers leave their summary row: the table holds only the open ones.
        await session.execute(text("DELETE FROM open_rollups WHERE n = 0"))


async def rebuild_rollups(session: AsyncSession) -> None:
    """Replace both tables by the GROUP BY of the facts (days, then months and years from days)."""
    await session.execute(LOCK)
    await session.execute(text("DELETE FROM rollups"))
    await session.execute(text("DELETE FROM open_rollups"))
    counters = ", ".join(COUNTERS)
    await session.execute(text(f"INSERT INTO rollups (grain, {', '.join(DAYS.keys)}, {counters}) "
                               + DAYS.select().replace("SELECT ", "SELECT 'd', ", 1)))
    sums = ", ".join(f"sum({c})" for c in COUNTERS)
    for grain, trunc in (("m", "month"), ("y", "year")):
        await session.execute(text(
            f"INSERT INTO rollups (grain, {', '.join(DAYS.keys)}, {counters}) SELECT '{grain}', "
            f"date_trunc('{trunc}', bucket)::date, unit_code, procedure_code, channel, {sums} "
            "FROM rollups WHERE grain = 'd' GROUP BY 2, 3, 4, 5"))
    await session.execute(text(f"INSERT INTO open_rollups ({', '.join(OPEN.keys)}, {', '.join(OPEN_COUNTERS)}) "
                               + OPEN.select()))
    await session.execute(text(
        "INSERT INTO rollup_definition (id, digest) VALUES (1, :d) "
        "ON CONFLICT (id) DO UPDATE SET digest = EXCLUDED.digest"), {"d": DIGEST})


async def ensure_rollups(session: AsyncSession) -> None:
    """At start-up: if the rollups were built for other counts, rebuild them from the facts.
    A new counter column is added to the tables here first (create_all adds no column)."""
    await session.execute(LOCK)
    stored = (await session.execute(text("SELECT digest FROM rollup_definition WHERE id = 1"))).scalar()
    if stored == DIGEST:
        return
    for table, names in (("rollups", COUNTERS), ("open_rollups", OPEN_COUNTERS)):
        for name in names:
            await session.execute(text(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} integer NOT NULL DEFAULT 0"))
    await rebuild_rollups(session)
