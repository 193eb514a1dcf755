"""Metrics' HTTP surface: indicators, the 766 index, targets, trends, exports, overdue dossiers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

import pydantic_core
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from sqlalchemy import select

from services.metrics.export import to_csv, to_xlsx
from services.metrics.models import DossierFact
from services.metrics.periods import TZ, Period, date_range, months_until, parse_period
from services.metrics.reports import Options, breakdown, monthly_trend, received_elsewhere, unit_report
from services.metrics.targets import load_targets, targets_report
from shared.auth import READER, ReaderDep, aggregate_reader, check_dossier, check_unit
from shared.event_types import YEAR_MAX, YEAR_MIN
from shared.events import DOSSIER_CODE_PATTERN
from shared.units import load_units

# Published aggregates are public unless READER_PUBLIC_AGGREGATES=false; per-dossier data
# (the overdue list and the drill-down) always needs a reader token.
router = APIRouter(prefix="/v1", tags=["indicators"], dependencies=[Depends(aggregate_reader)],
                   responses={429: {"description": "Too many anonymous requests from this address; "
                                                   "see Retry-After (a reader token is not limited)"}})
dossier_router = APIRouter(prefix="/v1", tags=["dossiers"], dependencies=[READER])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def chosen_period(
    period: Annotated[str | None, Query(description="2026-08, 2026-Q3 or 2026")] = None,
    from_: Annotated[date | None, Query(alias="from", description="First day of a date range")] = None,
    to: Annotated[date | None, Query(description="Last day of a date range")] = None,
) -> Period:
    field = "from" if from_ or to else "period"
    try:
        if from_ and to:
            chosen = date_range(from_, to)
        elif period:
            chosen = parse_period(period)
        elif from_ or to:
            raise ValueError("a date range needs both from and to")
        else:
            return parse_period(datetime.now(TZ).strftime("%Y-%m"))  # default: the current month
        # The contract's years (shared.event_types): no event lies outside them, and the year 1
        # would overflow the previous period's arithmetic.
        if not (chosen.start.year >= YEAR_MIN and chosen.end.year <= YEAR_MAX + 1):
            raise ValueError(f"must lie between the years {YEAR_MIN} and {YEAR_MAX}")
    except ValueError as exc:
        raise HTTPException(422, detail=[{"field": field, "message": str(exc)}]) from exc
    return chosen


async def chosen_unit(unit: Annotated[str, Query(description="Unit code; H44 is the whole province")] = "H44") -> str:
    if unit not in load_units():
        raise HTTPException(404, detail=f"unknown unit code {unit!r}")
    return unit


PeriodDep = Annotated[Period, Depends(chosen_period)]
UnitDep = Annotated[str, Depends(chosen_unit)]


async def options_of(request: Request) -> Options:
    settings = request.app.state.settings
    return Options(weights=settings.online_service_weights,
                   catalog=await request.app.state.catalog.get(request.app.state.http))


async def _report(request: Request, period: Period, unit: str) -> dict:
    options = await options_of(request)
    async with request.app.state.runtime.sessionmaker() as session:
        return await unit_report(session, period=period, unit=unit, units=load_units(), now=datetime.now(UTC),
                                 options=options)


@router.get("/units")
async def get_units() -> list[dict]:
    """The province's units (the reference list), province first."""
    units = load_units().units.values()
    return [{"code": u.code, "name": u.name, "level": u.level, "parent": u.parent}
            for u in sorted(units, key=lambda u: (u.parent is not None, u.level, u.code))]


def _json(data) -> Response:
    """JSON encoded in Rust (pydantic_core): a province report is ~0.5 MB, which FastAPI's own
    encoder took ~100 ms to walk."""
    return Response(pydantic_core.to_json(data), media_type="application/json")


@router.get("/indicators")
async def get_indicators(request: Request, period: PeriodDep, unit: UnitDep) -> Response:
    """Rates and the 766 index of a unit and of each unit below it, ranked, with the change, and the
    Plan 617 targets beside them (as /v1/targets: the dashboard's first paint needs one report)."""
    report = await _report(request, period, unit)
    year, targets = year_targets(request, period)
    return _json(report | {"targets": {"year": year, "plan": targets.plan if targets else None,
                                       "targets": targets_report(report, targets)}})


@router.get("/indicators/breakdown")
async def get_breakdown(
    request: Request, period: PeriodDep, unit: UnitDep, by: Literal["procedure", "channel"] = "procedure"
) -> Response:
    """A unit's figures per procedure or per channel (1 counter, 2 online, 3 postal)."""
    options = await options_of(request)
    async with request.app.state.runtime.sessionmaker() as session:
        return _json(await breakdown(session, period=period, unit=unit, by=by, now=datetime.now(UTC),
                                     options=options))


@router.get("/trend")
async def get_trend(
    request: Request, unit: UnitDep, period: PeriodDep, months: Annotated[int, Query(ge=1, le=36)] = 12
) -> list[dict]:
    """Month by month up to the period's last month: received, 766 score and rates."""
    options = await options_of(request)
    async with request.app.state.runtime.sessionmaker() as session:
        return await monthly_trend(session, months=months_until(period, months), unit=unit, units=load_units(),
                                   now=datetime.now(UTC), options=options)


def year_targets(request: Request, period: Period):
    """The targets of the period's year (its first day's), or None when the file has none for it."""
    year = period.start.astimezone(TZ).year
    try:
        return year, load_targets(request.app.state.settings.targets_path).get(year)
    except (OSError, ValueError) as exc:  # an operator's edit that does not parse: say so, serve no guess
        raise HTTPException(503, detail=f"the targets file cannot be used: {str(exc)[:300]}") from exc


@router.get("/received-elsewhere")
async def get_received_elsewhere(request: Request, period: PeriodDep, unit: UnitDep) -> dict:
    """Dossiers received outside their handling unit's area (tiếp nhận không phụ thuộc địa giới
    hành chính): per handling unit, the units that received them. Indicators count them for the
    handling unit, as the portal does."""
    async with request.app.state.runtime.sessionmaker() as session:
        return await received_elsewhere(session, period=period, unit=unit, units=load_units())


@router.get("/targets")
async def get_targets(request: Request, period: PeriodDep, unit: UnitDep) -> dict:
    """The plan's targets for the period's year beside the actual values, with the units that fall
    short; none for a year without targets (never another year's)."""
    report = await _report(request, period, unit)
    year, targets = year_targets(request, period)
    return {"period": report["period"], "unit": unit, "year": year, "plan": targets.plan if targets else None,
            "targets": targets_report(report, targets)}


@router.get("/report.csv", response_class=Response)
async def report_csv(request: Request, period: PeriodDep, unit: UnitDep) -> Response:
    """The monthly report as CSV (UTF-8 with BOM)."""
    report = await _report(request, period, unit)
    name = f"bao-cao-766-{unit}-{period.label}.csv"
    return Response(to_csv(report), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/report.xlsx", response_class=Response)
async def report_xlsx(request: Request, period: PeriodDep, unit: UnitDep) -> Response:
    """The monthly report as an Excel workbook (index sheet and Plan 617 targets sheet)."""
    report = await _report(request, period, unit)
    name = f"bao-cao-766-{unit}-{period.label}.xlsx"
    year, targets = year_targets(request, period)
    return Response(to_xlsx(report, targets_report(report, targets), year=year), media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@dossier_router.get("/overdue")
async def get_overdue(
    request: Request, unit: UnitDep, reader: ReaderDep, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[dict]:
    """Open dossiers past their deadline now (live), most overdue first; 403 for a unit the
    reader token is not bound to (nor below one it is)."""
    check_unit(reader, unit)
    now = datetime.now(UTC)
    query = (
        select(DossierFact.dossier_code, DossierFact.unit_code, DossierFact.procedure_code, DossierFact.status,
               DossierFact.received_at, DossierFact.deadline_at)
        .where(DossierFact.on_time.is_(None), DossierFact.deadline_at < now)
        .where((DossierFact.unit_code == unit) | DossierFact.unit_code.like(f"{unit}.%"))
        .order_by(DossierFact.deadline_at)
        .limit(limit)
    )
    async with request.app.state.runtime.sessionmaker() as session:
        rows = (await session.execute(query)).all()
    return [dict(r._mapping) | {"overdue_hours": round((now - r.deadline_at).total_seconds() / 3600, 1)}
            for r in rows]


@dossier_router.get("/dossiers/{code}")
async def get_dossier(
    request: Request, code: Annotated[str, Path(pattern=DOSSIER_CODE_PATTERN, description="Mã hồ sơ")],
    reader: ReaderDep,
) -> dict:
    """Drill-down: the dossier's state and control sheet, as processing holds them (which checks
    the token again)."""
    check_dossier(reader, code)
    response = await request.app.state.http.get(f"/v1/dossiers/{code}", headers=_forwarded(request))
    if response.status_code != 200:
        raise HTTPException(response.status_code, detail=response.json().get("detail", "not available"))
    return response.json()


def _forwarded(request: Request) -> dict[str, str]:
    auth = request.headers.get("authorization")
    return {"authorization": auth} if auth else {}
