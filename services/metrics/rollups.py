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

The signed contributions are written in the facts' transaction to the change tables; `fold` sums
them into the buckets every few seconds (`METRICS_ROLLUP_FOLD_SECONDS`), in a transaction of
its own. Readers read a rollup through `current()`: its buckets plus the changes not folded yet,
in one statement, so a report is exact whenever it runs. Folding seconds of changes at once
instead of each batch's: a bucket touched by many batches is written once, and the month and
year buckets of a busy second once each (in the bench, the rollups had been a third of the
database's time). The fold never waits for the consumer nor holds it back: one statement
deletes the changes it sums (those committed when it starts), so a batch committing meanwhile
keeps its changes for the next fold.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Date, DateTime, Index, Integer, SmallInteger, String, Table, Text, TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.metrics.aggregates import COUNTERS, COUNTS, JUDGED, PROCEDURE_SETS
from services.metrics.models import Base, DossierFact

DAY = "(f.received_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date"
OPEN_COUNTERS = {"n": "count(*)"} | {name: f"count(*) FILTER (WHERE {cond})" for name, cond in JUDGED.items()}

GRAIN_KEYS = ("grain", "bucket")  # 'd' day, 'm' month or 'y' year; the bucket's first local day
KEYS = ("unit_code", "procedure_code", "channel")


def _rollup_table(name: str, keys: tuple[str, ...], counters) -> Table:
    types: dict[str, Any] = {"unit_code": String(32), "procedure_code": String(16), "channel": SmallInteger}
    return Table(
        name,
        Base.metadata,
        Column("grain", String(1), primary_key=True),
        Column("bucket", Date, primary_key=True),
        *(Column(k, types[k], primary_key=True) for k in keys),
        *(Column(c, Integer, nullable=False, server_default="0") for c in counters),
    )


@dataclass(frozen=True, eq=False)  # hashed by identity: one per table
class Rollup:
    """A table of sums per grain, bucket and `keys` (a subset of KEYS) of some of the counters."""

    table: Table
    keys: tuple[str, ...]
    counters: tuple[str, ...]
    grains: tuple[str, ...] = ("d", "m", "y")


# Every counter per unit, procedure and channel: one unit's breakdowns, and the source of the others.
# (No year buckets: one unit's breakdown over a year reads its twelve months; a third fewer writes.)
ALL = Rollup(_rollup_table("rollups", KEYS, COUNTERS), KEYS, tuple(COUNTERS), grains=("d", "m"))
# What a report per unit reads: the counts per unit (~80 rows a bucket for a province), and the
# procedure-set counters per unit and procedure (no channel) for the distinct-procedure counts.
UNITS = Rollup(_rollup_table("unit_rollups", ("unit_code",), COUNTS), ("unit_code",), tuple(COUNTS))
PROCEDURES = Rollup(
    _rollup_table("procedure_rollups", ("unit_code", "procedure_code"), PROCEDURE_SETS),
    ("unit_code", "procedure_code"),
    tuple(PROCEDURE_SETS),
)
ROLLUPS = (ALL, UNITS, PROCEDURES)
rollups = ALL.table

# Open dossiers (on_time IS NULL) with a deadline: few (those of the last weeks), and their deadlines
# cluster at 17:00 of working days, so a report judges thousands of rows, not a month of dossiers.
open_rollups = Table(
    "open_rollups",
    Base.metadata,
    Column("unit_code", String(32), primary_key=True),
    Column("day", Date, primary_key=True),  # local day of reception
    Column("deadline_at", DateTime(timezone=True), primary_key=True),
    *(Column(name, Integer, nullable=False, server_default="0") for name in OPEN_COUNTERS),
)
# Which counts the rollups hold (a digest of their definitions): a change means a rebuild.
rollup_definition = Table(
    "rollup_definition",
    Base.metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("digest", Text, nullable=False),
)
# One unit's breakdown by procedure or channel judges its open dossiers from the facts: those few
# rows, found by a partial index however many closed dossiers the table holds.
Index("ix_dossier_facts_open", DossierFact.__table__.c.received_at, postgresql_where=text("on_time IS NULL"))


@dataclass(frozen=True, eq=False)  # hashed by identity: one per table
class Projection:
    """Contributions of dossiers: per key (SQL over the facts f and sync s), the counters' aggregates."""

    keys: dict[str, str]  # name -> SQL expression over f
    counters: dict[str, str]  # column -> aggregate SQL over f, s
    where: str

    def select(self, facts: str = "dossier_facts") -> str:
        return (
            f"SELECT {', '.join(self.keys.values())}, "
            + ", ".join(self.counters.values())
            + f" FROM {facts} f LEFT JOIN portal_sync_facts s ON s.dossier_code = f.dossier_code"
            + f" WHERE {self.where} GROUP BY {', '.join(self.keys.values())}"
        )


# Per day of reception, unit, procedure and channel: what every rollup is summed from.
DAYS = Projection(
    {"day": DAY, "unit_code": "f.unit_code", "procedure_code": "f.procedure_code", "channel": "f.channel"},
    COUNTERS,
    "f.received_at IS NOT NULL",
)
OPEN = Projection(
    {"unit_code": "f.unit_code", "day": DAY, "deadline_at": "f.deadline_at"},
    OPEN_COUNTERS,
    "f.received_at IS NOT NULL AND f.on_time IS NULL AND f.deadline_at IS NOT NULL",
)


def _changes_table(name: str, projection: Projection) -> Table:
    """Contributions not folded into the buckets yet: per batch, its dossiers' -1 before and +1
    after. Logged (they are committed state until folded: a crash must not lose them)."""
    types: dict[str, Any] = {
        "day": Date,
        "unit_code": String(32),
        "procedure_code": String(16),
        "channel": SmallInteger,
        "deadline_at": DateTime(timezone=True),
    }
    return Table(
        name,
        Base.metadata,
        Column("sign", SmallInteger, nullable=False),
        *(Column(k, types[k]) for k in projection.keys),
        *(Column(c, Integer, nullable=False) for c in projection.counters),
    )


CHANGES = {DAYS: _changes_table("rollup_day_changes", DAYS), OPEN: _changes_table("rollup_open_changes", OPEN)}


def _record(projection: Projection) -> str:
    """Insert the contributions of the dossiers :codes, signed :sign, into the changes table."""
    table = CHANGES[projection]
    columns = ", ".join(c.name for c in table.columns)
    # The batch's dossiers by their key first (OFFSET 0 keeps the planner from starting with the
    # partial index of all open dossiers instead), as a join on the list rather than
    # `dossier_code = ANY(:codes)`: on a young table with stale statistics the planner chose a
    # sequential scan filtering every fact against the whole list (15,000 facts × a 4,000-code
    # catch-up batch: 0.75 s a statement, four statements a batch, and metrics fell behind). The
    # join is a probe of the key per code, or one hash of the list, whatever the statistics say.
    select = projection.select(
        "(SELECT d.* FROM unnest(CAST(:codes AS text[])) AS batch(code)"
        " JOIN dossier_facts d ON d.dossier_code = batch.code OFFSET 0)"
    )
    return f"INSERT INTO {table.name} ({columns}) " + select.replace("SELECT ", "SELECT CAST(:sign AS smallint), ", 1)


def _adding(target: str, keys: str, counters: Collection[str], source: str, group: str) -> str:
    """Sum the signed changes per key and add the sums that are not all zero to the target's rows."""
    sums = ", ".join(f"sum(c.sign * c.{n})" for n in counters)
    moved = " OR ".join(f"sum(c.sign * c.{n}) <> 0" for n in counters)
    sets = ", ".join(f"{n} = {target}.{n} + EXCLUDED.{n}" for n in counters)
    return (
        f"INSERT INTO {target} ({keys}, {', '.join(counters)}) SELECT {group}, {sums} {source} "
        f"GROUP BY {group} HAVING {moved} ON CONFLICT ({keys}) DO UPDATE SET {sets}"
    )


def _grains(rollup: Rollup, changes: str = "rollup_day_changes") -> str:
    """Each day's change lands in its day, month and year buckets (those the rollup has)."""
    first = {
        "d": "c.day",
        "m": "CAST(date_trunc('month', CAST(c.day AS timestamp)) AS date)",
        "y": "CAST(date_trunc('year', CAST(c.day AS timestamp)) AS date)",
    }
    values = ", ".join(f"('{g}', {first[g]})" for g in rollup.grains)
    return f"FROM {changes} c CROSS JOIN LATERAL (VALUES {values}) AS g(grain, bucket)"


def current(rollup: Rollup) -> str:
    """The rollup as of now, for a FROM clause: its buckets, and the changes not folded into them
    yet as signed rows of their own (readers sum per key, so each counts once either way)."""
    columns = ", ".join((*GRAIN_KEYS, *rollup.keys, *rollup.counters))
    # Each column of the pending rows has its bucket column's type exactly (the grain a varchar
    # like the table's, not the VALUES' text): else PostgreSQL cannot push the readers' WHERE into
    # the UNION and reads every bucket of the table (a province-month took 1 s instead of 30 ms).
    pending = ", ".join(
        (
            "CAST(g.grain AS varchar)",
            "g.bucket",
            *(f"c.{k}" for k in rollup.keys),
            *(f"c.sign * c.{n} AS {n}" for n in rollup.counters),
        )
    )
    return f"(SELECT {columns} FROM {rollup.table.name} UNION ALL SELECT {pending} {_grains(rollup)})"


def current_open() -> str:
    """The open dossiers' summary as of now (see current())."""
    keys, counters = ", ".join(OPEN.keys), list(OPEN_COUNTERS)
    pending = ", ".join((*(f"c.{k}" for k in OPEN.keys), *(f"c.sign * c.{n} AS {n}" for n in counters)))
    return (
        f"(SELECT {keys}, {', '.join(counters)} FROM open_rollups "
        f"UNION ALL SELECT {pending} FROM rollup_open_changes c)"
    )


_RECORD = {p: text(_record(p)) for p in CHANGES}


def _folding() -> list[TextClause]:
    """The fold: each changes table emptied by a DELETE whose returned rows are what it sums, in
    the same statement (one snapshot), so a change committed meanwhile is neither summed nor lost."""
    gone = "WITH gone AS (DELETE FROM rollup_day_changes RETURNING *)"
    # The changes summed per day and key once, before they fan out to the grains of three rollups:
    # a fold's ~30,000 changes are ~6,600 days and keys in the bench (each dossier's batches add
    # and retract the same key), and the fold took 390 -> 270 ms. Cast back to integer (the
    # buckets' type): a sum of bigints is a numeric, several times slower to add up again.
    day_keys = ", ".join(f"c.{k}" for k in DAYS.keys)
    sums = ", ".join(f"CAST(sum(c.sign * c.{n}) AS integer) AS {n}" for n in COUNTERS)
    # Each summed row is one change of sign +1 (the columns are those of the changes table).
    summed = f"summed AS (SELECT CAST(1 AS smallint) AS sign, {day_keys}, {sums} FROM gone c GROUP BY {day_keys})"
    into = [
        _adding(
            r.table.name,
            ", ".join((*GRAIN_KEYS, *r.keys)),
            r.counters,
            _grains(r, "summed"),
            ", ".join(("g.grain", "g.bucket", *(f"c.{k}" for k in r.keys))),
        )
        for r in ROLLUPS
    ]
    days = f"{gone}, {summed}, " + ", ".join(f"r{i} AS ({sql})" for i, sql in enumerate(into[:-1])) + f" {into[-1]}"
    keys = ", ".join(OPEN.keys)
    group = ", ".join(f"c.{k}" for k in OPEN.keys)
    opened = "WITH gone AS (DELETE FROM rollup_open_changes RETURNING *) " + _adding(
        "open_rollups", keys, list(OPEN_COUNTERS), "FROM gone c", group
    )
    # Closed dossiers leave their summary row: the table holds only the open ones.
    return [text(days), text(opened), text("DELETE FROM open_rollups WHERE n = 0")]


_FOLD = _folding()

DIGEST = hashlib.sha256(
    repr(
        [
            sorted(COUNTERS.items()),
            sorted(OPEN_COUNTERS.items()),
            OPEN.where,
            [(r.table.name, r.keys, r.counters, r.grains) for r in ROLLUPS],
        ]
    ).encode()
).hexdigest()
# The tracking of batches is serialized: two transactions retracting and reasserting the same
# dossier (a partition handed over mid-batch) would otherwise count it twice.
# The key names the schema: metrics processes of other schemas in the same database (tests, the
# bench, a rebuild beside the live schema) do not wait for each other.
LOCK = text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.metrics.rollups'))")
# One fold at a time (two metrics replicas): a second one skips its turn rather than wait.
_FOLD_KEY = "hashtext(current_schema() || '.metrics.rollups.fold')"
FOLD_TURN = text(f"SELECT pg_try_advisory_xact_lock({_FOLD_KEY})")
FOLD_LOCK = text(f"SELECT pg_advisory_xact_lock({_FOLD_KEY})")


async def tracking(session: AsyncSession, codes: Collection[str], change: Callable[[], Awaitable[None]]) -> None:
    """Run `change` (which writes the facts of these dossiers) and record, in the same
    transaction, how the rollups move: the contributions before and after, computed in SQL."""
    if not codes:
        return
    params = {"codes": sorted(codes)}
    await session.execute(LOCK)
    for statement in _RECORD.values():
        await session.execute(statement, params | {"sign": -1})
    await change()
    for statement in _RECORD.values():
        await session.execute(statement, params | {"sign": 1})


async def fold(session: AsyncSession) -> None:
    """Sum the pending changes into the buckets and clear them (what readers see is unchanged).
    Batches go on being tracked meanwhile: the fold does not take their lock."""
    if not (await session.execute(FOLD_TURN)).scalar():
        return  # another process is folding these rollups now
    for statement in _FOLD:
        await session.execute(statement)


async def fold_forever(sessionmaker: async_sessionmaker[AsyncSession], interval: float) -> None:
    while True:
        async with sessionmaker() as session, session.begin():
            if (await session.execute(_PENDING)).scalar():
                await fold(session)
        await asyncio.sleep(interval)


_PENDING = text("SELECT EXISTS (SELECT 1 FROM rollup_day_changes) OR EXISTS (SELECT 1 FROM rollup_open_changes)")


async def rebuild_rollups(session: AsyncSession) -> None:
    """Replace every rollup by the GROUP BY of the facts: days from the facts, months and years from
    the days, the narrower rollups from the widest; and the open dossiers' summary."""
    await session.execute(LOCK)
    await session.execute(FOLD_LOCK)
    # The pending changes are in the facts already: the buckets are rebuilt from those.
    for table in (*(r.table.name for r in ROLLUPS), "open_rollups", *(t.name for t in CHANGES.values())):
        await session.execute(text(f"DELETE FROM {table}"))
    counters = ", ".join(COUNTERS)
    await session.execute(
        text(
            f"INSERT INTO rollups (grain, bucket, {', '.join(KEYS)}, {counters}) "
            + DAYS.select().replace("SELECT ", "SELECT 'd', ", 1)
        )
    )
    for rollup in ROLLUPS:
        keys, counters = ", ".join(rollup.keys), ", ".join(rollup.counters)
        sums = ", ".join(f"sum({c})" for c in rollup.counters)
        if rollup is not ALL:  # the days from the widest rollup's days
            await session.execute(
                text(
                    f"INSERT INTO {rollup.table.name} (grain, bucket, {keys}, {counters}) SELECT 'd', bucket, {keys}, "
                    f"{sums} FROM rollups WHERE grain = 'd' GROUP BY bucket, {keys}"
                )
            )
        for grain, trunc in (("m", "month"), ("y", "year")):  # months and years from its own days
            if grain in rollup.grains:
                await session.execute(
                    text(
                        f"INSERT INTO {rollup.table.name} (grain, bucket, {keys}, {counters}) SELECT '{grain}', "
                        f"CAST(date_trunc('{trunc}', CAST(bucket AS timestamp)) AS date), {keys}, {sums} "
                        f"FROM {rollup.table.name} WHERE grain = 'd' GROUP BY 2, {keys}"
                    )
                )
    await session.execute(
        text(f"INSERT INTO open_rollups ({', '.join(OPEN.keys)}, {', '.join(OPEN_COUNTERS)}) " + OPEN.select())
    )
    await session.execute(
        text(
            "INSERT INTO rollup_definition (id, digest) VALUES (1, :d) "
            "ON CONFLICT (id) DO UPDATE SET digest = EXCLUDED.digest"
        ),
        {"d": DIGEST},
    )


async def ensure_rollups(session: AsyncSession) -> None:
    """At start-up: if the rollups were built for other counts (or never), rebuild them from the
    facts. A new counter's columns come with the migration that adds its fact column."""
    await session.execute(LOCK)
    stored = (await session.execute(text("SELECT digest FROM rollup_definition WHERE id = 1"))).scalar()
    if stored != DIGEST:
        await rebuild_rollups(session)
