"""The headline figures of the current month as Prometheus gauges, per unit (rolled up the tree).

Refreshed from the rollups every `gauge_interval_seconds` (not per scrape, never from the facts),
so a Grafana that already watches the services' health shows the official figures beside it.
Labels are bounded: 76 units × 5 rates, and 76 unit scores.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from prometheus_client import Gauge

from services.metrics.aggregates import count, roll_up
from services.metrics.periods import TZ, parse_period
from services.metrics.reports import Options, row
from shared.units import load_units

# indicator label -> the rate (reports.RATES) it shows
HEADLINE = {
    "online": "online_rate",
    "digitization": "digitization_rate",
    "on_time": "on_time_rate",
    "sync": "sync_rate",
    "satisfaction": "satisfaction_rate",
}
RATIO = Gauge(
    "dossier_indicator_ratio",
    "Headline rate of the current month (0-1), dossiers received in it",
    ["unit", "indicator"],
)
SCORE = Gauge("dossier_index766_score", "Quyết định 766 total score of the current month (points of 100)", ["unit"])
MONTH = Gauge("dossier_indicator_month", "The month the indicator gauges describe, as YYYYMM (local time)")
REFRESHED = Gauge("dossier_indicator_refreshed_timestamp_seconds", "When the indicator gauges were last computed")


async def refresh(sessionmaker, options: Options, now: datetime | None = None) -> None:
    """Compute the gauges of the month of `now` from the rollups, as the API's report would."""
    now = now or datetime.now(UTC)
    local = now.astimezone(TZ)
    month = parse_period(local.strftime("%Y-%m"))
    async with sessionmaker() as session:
        totals = roll_up(await count(session, month, min(now, month.end)), load_units())
    # Computed first, then swapped in without an await between: a scrape never sees half a refresh.
    ratios, scores = {}, {}
    for unit, counts in totals.items():
        if not counts["received"]:
            continue
        await asyncio.sleep(0)  # ~1 ms of scoring per unit: let waiting requests through between units
        figures = row(unit, counts, options, load_units())
        for label, rate in HEADLINE.items():
            if figures["rates"][rate]["ratio"] is not None:
                ratios[(unit, label)] = figures["rates"][rate]["ratio"]
        scores[unit] = figures["index"]["score"]
    RATIO.clear()
    SCORE.clear()
    for labels, value in ratios.items():
        RATIO.labels(*labels).set(value)
    for unit, value in scores.items():
        SCORE.labels(unit).set(value)
    MONTH.set(local.year * 100 + local.month)
    REFRESHED.set(now.timestamp())


async def refresh_forever(sessionmaker, options: Callable[[], Awaitable[Options]], interval: float) -> None:
    while True:
        await refresh(sessionmaker, await options())
        await asyncio.sleep(interval)
