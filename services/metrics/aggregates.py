"""Counting dossier facts for a period, per unit (rolled up the tree), procedure or channel.

Every count is over dossiers *received* (accepted at the counter) in the period. An open
dossier is on time while its deadline has not passed at the judging time (period end or now).
Additive counts roll up by summing; the procedure counts of the 766 index are distinct
procedures, so they roll up as set unions.

The counts are defined here once, as aggregates over the facts (`COUNTS`, `PROCEDURE_SETS`);
`services.metrics.rollups` keeps them summed per unit, day/month/year, procedure and channel in
the same transaction as the facts, and reports read those sums (`count`). `count_from_facts`
computes the same figures straight from the facts: the reference the rollups are tested against.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.periods import TZ, Period, buckets
from shared.units import UnitTree

# name -> an additive SQL aggregate over the facts f (LEFT JOIN portal_sync_facts s) of one group:
# count(*) FILTER (...) or sum(...). Each becomes a rollup column; a new fact column's count is one
# line here (the rollups are rebuilt from the facts when this list changes).
COUNTS = {
    "received": "count(*)",
    "online": "count(*) FILTER (WHERE f.channel = 2)",
    "digitized": "count(*) FILTER (WHERE f.digitized)",
    # Closed dossiers on time; open ones are judged at query time (JUDGED).
    "on_time": "count(*) FILTER (WHERE f.on_time)",
    "synced": "count(s.dossier_code)",
    "electronic_result": "count(*) FILTER (WHERE f.electronic_result)",
    "reused": "count(*) FILTER (WHERE f.reused)",
    # Results that are official documents, and those issued by the document system (docs/domain.md §10).
    "document_expected": "count(*) FILTER (WHERE f.document_expected)",
    "document_result": "count(*) FILTER (WHERE f.document_expected AND f.document_result)",
    "personal_store": "count(*) FILTER (WHERE f.personal_store)",
    "population_data": "count(*) FILTER (WHERE f.population_data)",
    "has_fee": "count(*) FILTER (WHERE f.has_fee)",
    # 3.6: paid online (method 1 or 2) over dossiers that owed a fee (handlers.fee_owed).
    "fee_owed": "count(*) FILTER (WHERE f.fee_owed)",
    "paid_online": "count(*) FILTER (WHERE f.fee_owed AND f.paid_online)",
    # 3.3: online dossiers, those of paper-result procedures only with an electronic result.
    "online_counted": "count(*) FILTER (WHERE f.online_counted)",
    # Plan 617 "results synced in full": the portal holds the final status (9 or 10) the dossier has.
    "final": "count(*) FILTER (WHERE f.status IN (9, 10))",
    "synced_final": "count(*) FILTER (WHERE f.status IN (9, 10) AND s.status = f.status)",
    # Plan 617 body: dossiers processed fully online, over dossiers of full-online procedures.
    "full_online_dossiers": "count(*) FILTER (WHERE f.proc_online = 'full' AND f.channel = 2)",
    "full_online_procedure_dossiers": "count(*) FILTER (WHERE f.proc_online = 'full')",
    # 2.2: handling time, summed in hundredths of the procedure's time unit (meaningful per procedure).
    "handled": "count(*) FILTER (WHERE f.handling_time IS NOT NULL)",
    # (Rounded per dossier, so that sums of buckets are the sum of the period.)
    "handling_time_centi": "coalesce(sum(round(f.handling_time * 100)), 0)::bigint",
    # The handled dossiers per time unit of their procedure: a procedure's breakdown names its unit
    # from these (reading it from the period's facts scanned a year of dossiers: 0.5 s).
    **{
        f"handled_{unit}": f"count(*) FILTER (WHERE f.handling_time IS NOT NULL AND f.time_unit = '{unit}')"
        for unit in ("working_days", "calendar_days", "hours", "months")
    },
    # Reception regardless of administrative boundaries, and the postal public service.
    "received_elsewhere": "count(*) FILTER (WHERE f.receiving_unit_code IS NOT NULL)",
    "received_by_post": "count(*) FILTER (WHERE f.channel = 3)",
    "returned": "count(*) FILTER (WHERE f.status = 10)",
    "returned_by_post": "count(*) FILTER (WHERE f.status = 10 AND f.returned_by_post)",
    "pending_catalog": "count(*) FILTER (WHERE f.pending_catalog)",
    "feedback": "coalesce(sum(f.feedback), 0)",
    "feedback_on_time": "coalesce(sum(f.feedback_on_time), 0)",
    "feedback_satisfied": "coalesce(sum(f.feedback_satisfied), 0)",
    # On time, with no PAKN and no dislike: the numerator of reception/handling satisfaction.
    "satisfied": "count(*) FILTER (WHERE f.on_time AND f.feedback = 0 AND NOT f.disliked)",
}
# Counts that depend on the judging time: an open dossier (on_time IS NULL) adds one while its
# deadline has not passed at the judging time (period end, or now) and this condition holds.
JUDGED = {
    "on_time": "true",
    "satisfied": "f.feedback = 0 AND NOT f.disliked",
}
STILL_OPEN = "f.on_time IS NULL AND f.deadline_at >= :judged_at"
# name -> condition on a procedure's catalog facts; counted as distinct procedures (a procedure is
# in the set when at least one of the group's dossiers meets the condition).
PROCEDURE_SETS = {
    "procedures": "true",
    "procedures_online": "f.proc_online IN ('full', 'partial')",
    "procedures_full_online": "f.proc_online = 'full'",
    "procedures_with_fee": "f.proc_has_fee",
    "procedures_online_payment": "f.proc_has_fee AND f.proc_online_payment",
    # 3.5: fee-bearing procedures whose dossiers reached the portal with their fee data.
    "procedures_fee_synced": "f.proc_has_fee AND f.fee_data AND s.dossier_code IS NOT NULL",
    # 3.2: online services that had an online dossier.
    "procedures_online_used": "f.channel = 2 AND f.proc_online IN ('full', 'partial')",
    "procedures_population": "f.proc_population",
}
# Every summed column: the counts, and per procedure set the dossiers meeting its condition.
COUNTERS = COUNTS | {name: f"count(*) FILTER (WHERE {cond})" for name, cond in PROCEDURE_SETS.items()}
GROUPINGS = {"unit": "unit_code", "procedure": "procedure_code", "channel": "channel::text"}
FROM = """FROM dossier_facts f LEFT JOIN portal_sync_facts s ON s.dossier_code = f.dossier_code
          WHERE f.received_at >= :start AND f.received_at < :end"""


def unit_filter(alias: str) -> str:
    return f" AND ({alias}.unit_code = :unit OR {alias}.unit_code LIKE :unit || '.%')"


@dataclass
class Counts:
    values: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    procedures: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in PROCEDURE_SETS})
    # Counts that come from the catalog, not the dossiers (CLGQ 3.1/3.2), set by reports.row.
    extra: dict[str, int] = field(default_factory=dict)
    time_unit: str | None = None  # the procedure's time unit, when grouped by procedure (2.2)

    def add(self, other: Counts) -> None:
        for k, v in other.values.items():
            self.values[k] += v
        for k, codes in other.procedures.items():
            self.procedures[k] |= codes

    def __getitem__(self, name: str) -> int:
        if name in self.values:
            return self.values[name]
        return self.extra[name] if name in self.extra else len(self.procedures[name])


def from_rows(rows) -> dict[str, Counts]:
    """Counts per key from rows of (key, every count, then per procedure set the codes in it)."""
    totals: dict[str, Counts] = defaultdict(Counts)
    for r in rows:
        counts = totals[r[0]]
        for i, name in enumerate(COUNTS, start=1):
            counts.values[name] += int(r[i])
        for i, name in enumerate(PROCEDURE_SETS, start=1 + len(COUNTS)):
            counts.procedures[name].update(r[i])
    return totals


def per_key(grouped: str) -> str:
    """Sum per key the counts of `grouped` (rows per key and procedure code), and list per set the
    procedures with at least one dossier meeting its condition: one row per key to read."""
    sums = ", ".join(f"sum({name})" for name in COUNTS)
    sets = ", ".join(f"coalesce(array_agg(code) FILTER (WHERE {name} > 0), '{{}}')" for name in PROCEDURE_SETS)
    return f"WITH g AS ({grouped}) SELECT key, {sums}, {sets} FROM g GROUP BY key"


async def count(
    session: AsyncSession, period: Period, judged_at: datetime, *, by: str = "unit", unit: str | None = None
) -> dict[str, Counts]:
    """Counts per group key; with `unit`, only the dossiers of that unit and the units below it.

    Read from the rollups (services.metrics.rollups): the period as whole years, months and days,
    and the open dossiers' time-dependent counts (JUDGED) judged at `judged_at`."""
    from services.metrics.rollups import ALL, PROCEDURES, UNITS, current, current_open  # it imports this module

    spans = buckets(period, years=by == "unit")  # the widest rollups have no year buckets
    params = {"y": spans["y"], "m": spans["m"], "d": spans["d"], "unit": unit}
    where = (
        "((r.grain = 'y' AND r.bucket = ANY(:y)) OR (r.grain = 'm' AND r.bucket = ANY(:m)) "
        f"OR (r.grain = 'd' AND r.bucket = ANY(:d))){unit_filter('r') if unit else ''}"
    )
    if by == "unit":  # the per-unit rollups: ~80 rows a bucket for the counts, ~80 × procedures for the sets
        counts = ", ".join(f"sum(r.{name})" for name in COUNTS)
        rows = await session.execute(
            text(f"SELECT r.unit_code, {counts} FROM {current(UNITS)} r WHERE {where} GROUP BY 1"), params
        )
        totals: dict[str, Counts] = defaultdict(Counts)
        for r in rows:
            totals[r[0]].values = {name: int(v) for name, v in zip(COUNTS, r[1:], strict=True)}
        sets = ", ".join(f"coalesce(array_agg(code) FILTER (WHERE {name} > 0), '{{}}')" for name in PROCEDURE_SETS)
        sums = ", ".join(f"sum(r.{name}) AS {name}" for name in PROCEDURE_SETS)
        rows = await session.execute(
            text(
                f"WITH g AS (SELECT r.unit_code AS key, r.procedure_code AS code, {sums} FROM {current(PROCEDURES)} r "
                f"WHERE {where} GROUP BY 1, 2) SELECT key, {sets} FROM g GROUP BY key"
            ),
            params,
        )
        for r in rows:
            for name, codes in zip(PROCEDURE_SETS, r[1:], strict=True):
                totals[r[0]].procedures[name].update(codes)
    else:  # one unit's breakdown by procedure or channel: the widest rollups, for that unit
        sums = ", ".join(f"sum(r.{name}) AS {name}" for name in COUNTERS)
        totals = from_rows(
            await session.execute(
                text(
                    per_key(
                        f"SELECT r.{GROUPINGS[by]} AS key, r.procedure_code AS code, {sums} FROM {current(ALL)} r "
                        f"WHERE {where} GROUP BY 1, 2"
                    )
                ),
                params,
            )
        )
    if by == "unit":  # the open dossiers' summary, per unit, day of reception and deadline
        judged = ", ".join(f"sum(o.{name}) FILTER (WHERE o.deadline_at >= :judged_at) AS {name}" for name in JUDGED)
        query = (
            f"SELECT o.unit_code AS key, {judged} FROM {current_open()} o WHERE o.day >= :first AND o.day < :after"
            f"{unit_filter('o') if unit else ''} GROUP BY 1"
        )
    else:  # one unit's breakdown: its open dossiers, from the facts (a partial index holds them)
        judged = ", ".join(f"count(*) FILTER (WHERE {STILL_OPEN} AND {sql}) AS {name}" for name, sql in JUDGED.items())
        query = (
            f"SELECT f.{GROUPINGS[by]} AS key, {judged} FROM dossier_facts f WHERE f.on_time IS NULL "
            f"AND f.received_at >= :start AND f.received_at < :end{unit_filter('f') if unit else ''} GROUP BY 1"
        )
    first, after = (t.astimezone(TZ).date() for t in (period.start, period.end))
    rows = await session.execute(
        text(query),
        {
            "judged_at": judged_at,
            "start": period.start,
            "end": period.end,
            "first": first,
            "after": after,
            "unit": unit,
        },
    )
    for r in rows:
        for name in JUDGED:
            totals[r.key].values[name] += int(getattr(r, name) or 0)
    if by == "procedure":  # 2.2's time unit: the one most of the procedure's handled dossiers have
        for group in totals.values():
            group.time_unit = handled_time_unit(group.values)
    return dict(totals)


def handled_time_unit(values: dict[str, int]) -> str | None:
    """The time unit of most handled dossiers (None when none was handled: 2.2 is not shown)."""
    handled = {name.removeprefix("handled_"): n for name, n in values.items() if name.startswith("handled_") and n}
    return max(handled, key=lambda unit: handled[unit]) if handled else None


async def count_months(session: AsyncSession, months: list[Period], now: datetime, *, unit: str) -> dict[str, Counts]:
    """Per month (label): the counts of `unit` with the units below it, each month's open dossiers
    judged at its end or now. Three statements whatever the number of months (the trend)."""
    from services.metrics.rollups import PROCEDURES, UNITS, current, current_open  # it imports this module

    firsts = {m.start.astimezone(TZ).date(): m.label for m in months}
    params = {
        "m": list(firsts),
        "unit": unit,
        "now": now,
        "first": min(firsts),
        "after": max(m.end for m in months).astimezone(TZ).date(),
    }
    where = f"r.grain = 'm' AND r.bucket = ANY(:m){unit_filter('r')}"
    totals: dict[str, Counts] = defaultdict(Counts)
    counts = ", ".join(f"sum(r.{name})" for name in COUNTS)
    for r in await session.execute(
        text(f"SELECT r.bucket, {counts} FROM {current(UNITS)} r WHERE {where} GROUP BY 1"), params
    ):
        totals[firsts[r[0]]].values = {name: int(v) for name, v in zip(COUNTS, r[1:], strict=True)}
    sets = ", ".join(f"coalesce(array_agg(code) FILTER (WHERE {name} > 0), '{{}}')" for name in PROCEDURE_SETS)
    sums = ", ".join(f"sum(r.{name}) AS {name}" for name in PROCEDURE_SETS)
    for r in await session.execute(
        text(
            f"WITH g AS (SELECT r.bucket AS key, r.procedure_code AS code, {sums} FROM {current(PROCEDURES)} r "
            f"WHERE {where} GROUP BY 1, 2) SELECT key, {sets} FROM g GROUP BY key"
        ),
        params,
    ):
        for name, codes in zip(PROCEDURE_SETS, r[1:], strict=True):
            totals[firsts[r[0]]].procedures[name].update(codes)
    month = "date_trunc('month', CAST(o.day AS timestamp))"  # a local wall time, placed in Vietnam below
    judged_at = f"least(CAST(:now AS timestamptz), ({month} + interval '1 month') AT TIME ZONE 'Asia/Ho_Chi_Minh')"
    judged = ", ".join(f"sum(o.{name}) FILTER (WHERE o.deadline_at >= {judged_at})" for name in JUDGED)
    for r in await session.execute(
        text(
            f"SELECT {month}::date, {judged} FROM {current_open()} o WHERE o.day >= :first AND o.day < :after"
            f"{unit_filter('o')} GROUP BY 1"
        ),
        params,
    ):
        if r[0] in firsts:
            for name, value in zip(JUDGED, r[1:], strict=True):
                totals[firsts[r[0]]].values[name] += int(value or 0)
    return dict(totals)


async def count_from_facts(
    session: AsyncSession, period: Period, judged_at: datetime, *, by: str = "unit", unit: str | None = None
) -> dict[str, Counts]:
    """The same counts aggregated from every fact of the period (the rollups' reference)."""
    key = f"f.{GROUPINGS[by]}"
    where = unit_filter("f") if unit else ""
    params = {"judged_at": judged_at, "start": period.start, "end": period.end, "unit": unit}
    sums = ", ".join(
        f"{sql} + count(*) FILTER (WHERE {STILL_OPEN} AND {JUDGED[name]}) AS {name}"
        if name in JUDGED
        else f"{sql} AS {name}"
        for name, sql in COUNTERS.items()
    )
    rows = await session.execute(
        text(per_key(f"SELECT {key} AS key, f.procedure_code AS code, {sums} {FROM}{where} GROUP BY 1, 2")), params
    )
    return dict(from_rows(rows))


def roll_up(own: dict[str, Counts], units: UnitTree) -> dict[str, Counts]:
    """Each unit's counts together with those of every unit below it."""
    totals: dict[str, Counts] = defaultdict(Counts)
    for code, counts in own.items():
        for ancestor in units.ancestors_and_self(code) or [code]:
            totals[ancestor].add(counts)
    return dict(totals)
