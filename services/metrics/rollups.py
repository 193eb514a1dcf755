"""Rollups: the facts' counts summed per local day, month and year of reception and per unit,
procedure and channel (`rollups`), per unit (`unit_rollups`), per unit and procedure
(`procedure_rollups`), and the open dossiers per unit, day of reception and deadline
(`open_rollups`), all kept in the same transaction as the facts.

A report sums the buckets that make its period (whole years, months, days: periods.buckets) instead
of scanning every dossier, and judges the open dossiers from their summary (aggregates.count).
Maintenance is retract-and-reassert: before the facts of a batch change, the batch's dossiers'
current contributions are read with the very aggregates that define the counts; after, again; the
difference goes into the buckets. So a replaced revision, a late sync outcome, a dossier moving to
another procedure or day, a dossier closing, or a duplicate (no difference) all keep every bucket
equal to the GROUP BY of the facts it covers. When the list of counts changes, `ensure_rollups`
rebuilds the tables from the facts at start-up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import DDL, Column, Date, DateTime, Integer, SmallInteger, String, Table, Text, event, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.aggregates import COUNTERS, COUNTS, JUDGED, PROCEDURE_SETS
from services.metrics.models import Base
from shared.db import BulkInsert

DAY = "(f.received_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date"
FACTS = "FROM dossier_facts f LEFT JOIN portal_sync_facts s ON s.dossier_code = f.dossier_code"
OPEN_COUNTERS = {"n": "count(*)"} | {name: f"count(*) FILTER (WHERE {cond})" for name, cond in JUDGED.items()}

GRAIN_KEYS = ("grain", "bucket")  # 'd' day, 'm' month or 'y' year; the bucket's first local day
KEYS = ("unit_code", "procedure_code", "channel")


def _rollup_table(name: str, keys: tuple[str, ...], counters) -> Table:
    types: dict[str, Any] = {"unit_code": String(32), "procedure_code": String(16), "channel": SmallInteger}
    return Table(name, Base.metadata, Column("grain", String(1), primary_key=True),
                 Column("bucket", Date, primary_key=True),
                 *(Column(k, types[k], primary_key=True) for k in keys),
                 *(Column(c, Integer, nullable=False, server_default="0") for c in counters))


@dataclass(frozen=True, eq=False)  # hashed by identity: one per table
class Rollup:
    """A table of sums per grain, bucket and `keys` (a subset of KEYS) of some of the counters."""

    table: Table
    keys: tuple[str, ...]
    counters: tuple[str, ...]


# Every counter per unit, procedure and channel: one unit's breakdowns, and the source of the others.
ALL = Rollup(_rollup_table("rollups", KEYS, COUNTERS), KEYS, tuple(COUNTERS))
# What a report per unit reads: the counts per unit (~80 rows a bucket for a province), and the
# procedure-set counters per unit and procedure (no channel) for the distinct-procedure counts.
UNITS = Rollup(_rollup_table("unit_rollups", ("unit_code",), COUNTS), ("unit_code",), tuple(COUNTS))
PROCEDURES = Rollup(_rollup_table("procedure_rollups", ("unit_code", "procedure_code"), PROCEDURE_SETS),
                    ("unit_code", "procedure_code"), tuple(PROCEDURE_SETS))
ROLLUPS = (ALL, UNITS, PROCEDURES)
rollups = ALL.table

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
    """Contributions of dossiers: per key (SQL over the facts f and sync s), the counters' aggregates."""

    keys: dict[str, str]  # name -> SQL expression over f
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


# Per day of reception, unit, procedure and channel: what every rollup is summed from.
DAYS = Projection({"bucket": DAY, "unit_code": "f.unit_code", "procedure_code": "f.procedure_code",
                   "channel": "f.channel"}, COUNTERS, "f.received_at IS NOT NULL")
OPEN = Projection({"unit_code": "f.unit_code", "day": DAY, "deadline_at": "f.deadline_at"},
                  OPEN_COUNTERS, "f.received_at IS NOT NULL AND f.on_time IS NULL AND f.deadline_at IS NOT NULL")
_ADD = {r: adding(r.table, [*GRAIN_KEYS, *r.keys], r.counters) for r in ROLLUPS}
_ADD_OPEN = adding(open_rollups, list(OPEN.keys), OPEN_COUNTERS)
_CONTRIBUTIONS = {p: text(p.select(" AND f.dossier_code = ANY(:codes)")) for p in (DAYS, OPEN)}

DIGEST = hashlib.sha256(repr([sorted(COUNTERS.items()), sorted(OPEN_COUNTERS.items()), OPEN.where,
                              [(r.table.name, r.keys, r.counters) for r in ROLLUPS]]).encode()).hexdigest()
# Rollup maintenance is serialized: two transactions retracting and reasserting the same dossier
# (a partition handed over mid-batch) would otherwise count it twice.
LOCK = text("SELECT pg_advisory_xact_lock(hashtext('metrics.rollups'))")


async def _contributions(session: AsyncSession, codes: list[str]) -> dict[Projection, dict[tuple, list[int]]]:
    """Per projection: key -> the counters' values for these dossiers' current facts."""
    out = {}
    for projection, statement in _CONTRIBUTIONS.items():
        width = len(projection.keys)
        rows = await session.execute(statement, {"codes": codes})
        out[projection] = {tuple(r[:width]): list(r[width:]) for r in rows}
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


def _in(rollup: Rollup):
    """Re-key a day contribution (day, unit, procedure, channel) for a rollup, at every grain."""
    keys = [KEYS.index(k) + 1 for k in rollup.keys]
    counters = [list(COUNTERS).index(c) for c in rollup.counters]

    def expand(key: tuple) -> list[tuple]:
        day: date = key[0]
        rest = tuple(key[i] for i in keys)
        return [("d", day, *rest), ("m", day.replace(day=1), *rest), ("y", day.replace(month=1, day=1), *rest)]

    return expand, lambda values: [values[i] for i in counters]


async def tracking(session: AsyncSession, codes: Collection[str], change: Callable[[], Awaitable[None]]) -> None:
    """Run `change` (which writes the facts of these dossiers) and move the rollups with it."""
    if not codes:
        return
    codes = sorted(codes)
    await session.execute(LOCK)
    before = await _contributions(session, codes)
    await change()
    after = await _contributions(session, codes)
    for rollup in ROLLUPS:
        expand, pick = _in(rollup)
        deltas = _deltas({k: pick(v) for k, v in before[DAYS].items()}, {k: pick(v) for k, v in after[DAYS].items()},
                         expand)
        if deltas:
            add = _ADD[rollup]
            rows = [dict(zip(add.columns, (*k, *v), strict=True)) for k, v in sorted(deltas.items())]
            await add.execute(session, rows)
    opened = _deltas(before[OPEN], after[OPEN], lambda key: [key])
    if opened:
        await _ADD_OPEN.execute(session, [dict(zip(_ADD_OPEN.columns, (*k, *v), strict=True))
                                          for k, v in sorted(opened.items())])
        # Closed dossiers leave their summary row: the table holds only the open ones.
        await session.execute(text("DELETE FROM open_rollups WHERE n = 0"))


async def rebuild_rollups(session: AsyncSession) -> None:
    """Replace every rollup by the GROUP BY of the facts: days from the facts, months and years from
    the days, the narrower rollups from the widest; and the open dossiers' summary."""
    await session.execute(LOCK)
    for table in (*(r.table.name for r in ROLLUPS), "open_rollups"):
        await session.execute(text(f"DELETE FROM {table}"))
    counters = ", ".join(COUNTERS)
    await session.execute(text(f"INSERT INTO rollups (grain, {', '.join(DAYS.keys)}, {counters}) "
                               + DAYS.select().replace("SELECT ", "SELECT 'd', ", 1)))
    sums = ", ".join(f"sum({c})" for c in COUNTERS)
    for grain, trunc in (("m", "month"), ("y", "year")):
        await session.execute(text(
            f"INSERT INTO rollups (grain, bucket, {', '.join(KEYS)}, {counters}) SELECT '{grain}', "
            f"date_trunc('{trunc}', bucket)::date, {', '.join(KEYS)}, {sums} "
            f"FROM rollups WHERE grain = 'd' GROUP BY 2, {', '.join(KEYS)}"))
    for rollup in ROLLUPS[1:]:
        keys = ", ".join((*GRAIN_KEYS, *rollup.keys))
        await session.execute(text(
            f"INSERT INTO {rollup.table.name} ({keys}, {', '.join(rollup.counters)}) SELECT {keys}, "
            + ", ".join(f"sum({c})" for c in rollup.counters) + f" FROM rollups GROUP BY {keys}"))
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
    for table, names in (*((r.table.name, r.counters) for r in ROLLUPS), ("open_rollups", OPEN_COUNTERS)):
        for name in names:
            await session.execute(text(
                f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} integer NOT NULL DEFAULT 0"))
    await rebuild_rollups(session)
