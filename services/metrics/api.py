"""Metrics' HTTP surface: indicators per unit and period."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from services.metrics.indicators import indicators_report
from services.metrics.periods import Period, date_range, parse_period
from shared.units import load_units

router = APIRouter(prefix="/v1", tags=["indicators"])


def _period(period: str | None, start: date | None, end: date | None) -> Period:
    try:
        if start and end:
            return date_range(start, end)
        if period:
            return parse_period(period)
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from exc
    raise HTTPException(422, detail="give a period (2026-08, 2026-Q3, 2026) or both from and to dates")


@router.get("/indicators")
async def get_indicators(
    request: Request,
    unit: Annotated[str, Query(description="Unit code; H44 is the whole province")] = "H44",
    period: Annotated[str | None, Query(description="2026-08, 2026-Q3 or 2026")] = None,
    from_: Annotated[date | None, Query(alias="from", description="First day of a date range")] = None,
    to: Annotated[date | None, Query(description="Last day of a date range")] = None,
) -> dict:
    """Online, digitization, on-time and sync rates with numerators and denominators."""
    units = load_units()
    if unit not in units:
        raise HTTPException(404, detail=f"unknown unit code {unit!r}")
    chosen = _period(period, from_, to)
    async with request.app.state.runtime.sessionmaker() as session:
        return await indicators_report(session, period=chosen, unit=unit, units=units, now=datetime.now(UTC))
