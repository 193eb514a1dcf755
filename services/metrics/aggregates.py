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
    "handling_time_centi": "coalesce(round(sum(f.handling_time) * 100), 0)::bigint",
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
    "satisfied": f"count(*) FILTER (WHERE {ON_TIME} AND f.feedback = 0 AND NOT f.disliked)",
}
# name -> condition on a procedure's catalog facts; counted as distinct procedures.
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
GROUPINGS = {"unit": "f.unit_code", "procedure": "f.procedure_code", "channel": "f.channel::text"}
FROM = """FROM dossier_facts f LEFT JOIN portal_sync_facts s ON s.dossier_code = f.dossier_code
          WHERE f.received_at >= :start AND f.received_at < :end"""


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


async def count(
    session: AsyncSession, period: Period, judged_at: datetime, *, by: str = "unit", unit: str | None = None
) -> dict[str, Counts]:
    """Counts per group key; with `unit`, only the dossiers of that unit and the units below it."""
    key = GROUPINGS[by]
    where = " AND (f.unit_code = :unit OR f.unit_code LIKE :unit || '.%')" if unit else ""
    params = {"judged_at": judged_at, "start": period.start, "end": period.end, "unit": unit}
    totals: dict[str, Counts] = defaultdict(Counts)
    select = ", ".join(f"{sql} AS {name}" for name, sql in COUNTS.items())
    rows = await session.execute(
        text(f"SELECT {key} AS key, {select}, max(f.time_unit) AS time_unit {FROM}{where} GROUP BY 1"), params)
    for r in rows:
        totals[r.key].values = {name: int(getattr(r, name)) for name in COUNTS}
        totals[r.key].time_unit = r.time_unit if by == "procedure" else None
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
