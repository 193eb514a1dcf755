"""The foundation indicators per unit and period, rolled up the unit tree (DOMAIN.md §6).

Every ratio is over dossiers *received* (accepted at the counter) in the period. An open
dossier counts as on time while its deadline has not passed at the judging time: the end
of the period, or now when the period is not over.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.periods import Period
from shared.event_types import Channel
from shared.units import UnitTree

# numerator column → indicator name; the denominator is always "received".
INDICATORS = {
    "online": "online_rate",  # hồ sơ trực tuyến
    "digitized": "digitization_rate",  # hồ sơ số hóa (thành phần và kết quả)
    "on_time": "on_time_rate",  # hồ sơ đúng hạn
    "synced": "sync_rate",  # hồ sơ đồng bộ lên Cổng DVC quốc gia
}

COUNTS_BY_UNIT = text(
    """
    SELECT f.unit_code,
           count(*) AS received,
           count(*) FILTER (WHERE f.channel = :online) AS online,
           count(*) FILTER (WHERE f.digitized) AS digitized,
           count(*) FILTER (WHERE coalesce(f.on_time, f.deadline_at >= :judged_at)) AS on_time,
           count(s.dossier_code) AS synced
    FROM dossier_facts f
    LEFT JOIN portal_sync_facts s ON s.dossier_code = f.dossier_code
    WHERE f.received_at >= :start AND f.received_at < :end
    GROUP BY f.unit_code
    """
)


@dataclass
class Ratio:
    numerator: int
    denominator: int

    @property
    def ratio(self) -> float | None:
        return round(self.numerator / self.denominator, 4) if self.denominator else None

    def as_dict(self) -> dict:
        return {"numerator": self.numerator, "denominator": self.denominator, "ratio": self.ratio}


async def counts_by_unit(session: AsyncSession, period: Period, judged_at: datetime) -> dict[str, dict[str, int]]:
    """Raw counts for the dossiers each unit itself received (no roll-up)."""
    params = {"online": int(Channel.ONLINE), "judged_at": judged_at, "start": period.start, "end": period.end}
    rows = await session.execute(COUNTS_BY_UNIT, params)
    return {r.unit_code: dict(r._mapping) for r in rows}


def roll_up(own: dict[str, dict[str, int]], units: UnitTree) -> dict[str, dict[str, int]]:
    """Each unit's counts plus those of every unit below it."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(["received", *INDICATORS], 0))
    for code, counts in own.items():
        for ancestor in units.ancestors_and_self(code) or [code]:
            for key in totals[ancestor]:
                totals[ancestor][key] += counts[key]
    return totals


def unit_indicators(code: str, counts: dict[str, int], units: UnitTree) -> dict:
    unit = units.units.get(code)
    return {
        "unit_code": code,
        "unit_name": unit.name if unit else None,
        "level": unit.level if unit else None,
        "received": counts["received"],
        "indicators": {
            name: Ratio(counts[column], counts["received"]).as_dict() for column, name in INDICATORS.items()
        },
    }


async def indicators_report(
    session: AsyncSession, *, period: Period, unit: str, units: UnitTree, now: datetime
) -> dict:
    """The unit's own figures and those of each unit directly below it."""
    judged_at = min(now, period.end)
    totals = roll_up(await counts_by_unit(session, period, judged_at), units)
    empty = dict.fromkeys(["received", *INDICATORS], 0)
    children = [c.code for c in units.children(unit)]
    return {
        "period": {"label": period.label, "start": period.start, "end": period.end},
        "judged_at": judged_at,
        "unit": unit_indicators(unit, totals.get(unit, empty), units),
        "children": [unit_indicators(c, totals.get(c, empty), units) for c in children],
    }
