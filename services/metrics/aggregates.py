"""Counting dossier facts for a period, per unit (rolled up the tree), procedure or channel.

Every count is over dossiers *received* (accepted at the counter) in the period. An open
dossier is on time while its deadline has not passed at the judging time (period end or now).
Additive counts roll up by summing; the procedure counts of the 766 index are distinct
procedures, so they roll up as set unions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.periods import Period
from shared.units import UnitTree

ON_TIME = "coalesce(f.on_time, f.deadline_at >= :judged_at)"
# name -> SQL aggregate over the facts of one group.
COUNTS = {
    "received": "count(*)",
    "online": "count(*) FILTER (WHERE f.channel = 2)",
    "digitized": "count(*) FILTER (WHERE f.digitized)",
    "on_time": f"count(*) FILTER (WHERE {ON_TIME})",
    "synced": "count(s.dossier_code)",
    "electronic_result": "count(*) FILTER (WHERE f.electronic_result)",
    "reused": "count(*) FILTER (WHERE f.reused)",
    # Results that are official documents, and those issued by the document system (docs/domain.md §10).
    "document_expected": "count(*) FILTER (WHERE f.document_expected)",
    "document_result": "count(*) FILTER (WHERE f.document_expected AND f.document_result)",
    "personal_store": "count(*) FILTER (WHERE f.personal_store)",
    "population_data": "count(*) FILTER (WHERE f.population_data)",
    "has_fee": "count(*) FILTER (WHERE f.has_fee)",
    "paid_online": "count(*) FILTER (WHERE f.has_fee AND f.paid_online)",
    "feedback": "coalesce(sum(f.feedback), 0)",
    "feedback_on_time": "coalesce(sum(f.feedback_on_time), 0)",
    "feedback_satisfied": "coalesce(sum(f.feedback_satisfied), 0)",
    # On time, with no PAKN and no dislike: the numerator of reception/handling satisfaction.
    "satisfied": f"count(*) FILTER (WHERE {ON_TIME} AND f.feedback = 0 AND NOT f.disliked)",
}
# name -> condition on a procedure's catalog facts; counted as distinct procedures.
PROCEDURE_SETS = {
    "procedures": "true",
    "procedures_online": "f.proc_online IN ('full', 'partial')",
    "procedures_full_online": "f.proc_online = 'full'",
    "procedures_with_fee": "f.proc_has_fee",
    "procedures_online_payment": "f.proc_has_fee AND f.proc_online_payment",
    "procedures_fee_synced": "f.proc_has_fee AND f.proc_fee_synced",
    "procedures_population": "f.proc_population",
}
GROUPINGS = {"unit": "f.unit_code", "procedure": "f.procedure_code", "channel": "f.channel::text"}
FROM = """FROM dossier_facts f LEFT JOIN portal_sync_facts s ON s.dossier_code = f.dossier_code
          WHERE f.received_at >= :start AND f.received_at < :end"""


@dataclass
class Counts:
    values: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    procedures: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in PROCEDURE_SETS})

    def add(self, other: Counts) -> None:
        for k, v in other.values.items():
            self.values[k] += v
        for k, codes in other.procedures.items():
            self.procedures[k] |= codes

    def __getitem__(self, name: str) -> int:
        return self.values[name] if name in self.values else len(self.procedures[name])


async def count(
    session: AsyncSession, period: Period, judged_at: datetime, *, by: str = "unit", unit: str | None = None
) -> dict[str, Counts]:
    """Counts per group key; with `unit`, only the dossiers of that unit and the units below it."""
    key = GROUPINGS[by]
    where = " AND (f.unit_code = :unit OR f.unit_code LIKE :unit || '.%')" if unit else ""
    params = {"judged_at": judged_at, "start": period.start, "end": period.end, "unit": unit}
    totals: dict[str, Counts] = defaultdict(Counts)
    select = ", ".join(f"{sql} AS {name}" for name, sql in COUNTS.items())
    rows = await session.execute(text(f"SELECT {key} AS key, {select} {FROM}{where} GROUP BY 1"), params)
    for r in rows:
        totals[r.key].values = {name: int(getattr(r, name)) for name in COUNTS}
    flags = ", ".join(f"bool_or({sql}) AS {name}" for name, sql in PROCEDURE_SETS.items())
    rows = await session.execute(
        text(f"SELECT {key} AS key, f.procedure_code AS code, {flags} {FROM}{where} GROUP BY 1, 2"), params
    )
    for r in rows:
        for name in PROCEDURE_SETS:
            if getattr(r, name):
                totals[r.key].procedures[name].add(r.code)
    return dict(totals)


def roll_up(own: dict[str, Counts], units: UnitTree) -> dict[str, Counts]:
    """Each unit's counts together with those of every unit below it."""
    totals: dict[str, Counts] = defaultdict(Counts)
    for code, counts in own.items():
        for ancestor in units.ancestors_and_self(code) or [code]:
            totals[ancestor].add(counts)
    return dict(totals)
