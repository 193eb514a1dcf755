"""Metrics' HTTP surface: indicators, the 766 index, targets, trends, exports, overdue dossiers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import pydantic_core
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import select

from services.metrics.answers import Breakdown, Indicators, Overdue, ReceivedElsewhere, Targets, TrendMonth, UnitOut
from services.metrics.config import MetricsSettings, SettingsDep
from services.metrics.deps import CatalogDep, ProcessingDep
from services.metrics.export import to_csv, to_xlsx
from services.metrics.models import DossierFact
from services.metrics.periods import TZ, Period, date_range, months_until, parse_period
from services.metrics.reports import Options, breakdown, monthly_trend, received_elsewhere, unit_report
from services.metrics.targets import YearTargets, load_targets, targets_report
from shared.auth import READER, ReaderDep, aggregate_reader, check_dossier, check_unit
from shared.deps import SessionDep
from shared.dossier_view import DossierView
from shared.event_types import YEAR_MAX, YEAR_MIN
from shared.events import DOSSIER_CODE_PATTERN
from shared.units import load_units

# Published aggregates are public unless READER_PUBLIC_AGGREGATES=false; per-dossier data
# (the overdue list and the drill-down) always needs a reader token.
router = APIRouter(
    prefix="/v1",
    tags=["indicators"],
    dependencies=[Depends(aggregate_reader)],
    responses={
        429: {
            "description": "Too many anonymous requests from this address; "
            "see Retry-After (a reader token is not limited)"
        }
    },
)
dossier_router = APIRouter(prefix="/v1", tags=["dossiers"], dependencies=[READER])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def prebuilt_json(model: type[BaseModel]) -> dict[str, Any]:
    """A route answering a prebuilt JSON body (see _json): the model documents it in OpenAPI
    without validating each answer through it."""
    return {"response_class": Response, "responses": {200: {"model": model, "description": "Successful Response"}}}


def download(media_type: str, what: str) -> dict[str, Any]:
    """A route answering a file: its media type in OpenAPI instead of a JSON schema."""
    return {
        "response_class": Response,
        "responses": {
            200: {"description": what, "content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}
        },
    }


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


async def options_of(settings: SettingsDep, catalog: CatalogDep, processing: ProcessingDep) -> Options:
    """How the reports score: the configured weights and processing's procedure catalog."""
    return Options(weights=settings.online_service_weights, catalog=await catalog.get(processing))


OptionsDep = Annotated[Options, Depends(options_of)]


async def _report(period: PeriodDep, unit: UnitDep, session: SessionDep, options: OptionsDep) -> dict:
    """The unit report of the period (reports.unit_report), as a dependency of the routes built on it.
    The period and the unit come first: a bad one is refused before the catalog is read."""
    return await unit_report(
        session, period=period, unit=unit, units=load_units(), now=datetime.now(UTC), options=options
    )


ReportDep = Annotated[dict, Depends(_report)]


@router.get("/units")
async def get_units() -> list[UnitOut]:
    """The province's units (the reference list), province first."""
    units = load_units().units.values()
    return [
        UnitOut(code=u.code, name=u.name, level=u.level, parent=u.parent)
        for u in sorted(units, key=lambda u: (u.parent is not None, u.level, u.code))
    ]


def _json(data) -> Response:
    """JSON encoded in Rust (pydantic_core): a province report is ~0.5 MB, which FastAPI's own
    encoder took ~100 ms to walk."""
    return Response(pydantic_core.to_json(data), media_type="application/json")


@router.get("/indicators", **prebuilt_json(Indicators))
async def get_indicators(report: ReportDep, settings: SettingsDep, period: PeriodDep) -> Response:
    """Rates and the 766 index of a unit and of each unit below it, ranked, with the change, and the
    Plan 617 targets beside them (as /v1/targets: the dashboard's first paint needs one report)."""
    year, targets = year_targets(settings, period)
    return _json(
        report
        | {
            "targets": {
                "year": year,
                "plan": targets.plan if targets else None,
                "targets": targets_report(report, targets),
            }
        }
    )


@router.get("/indicators/breakdown", **prebuilt_json(Breakdown))
async def get_breakdown(
    period: PeriodDep,
    unit: UnitDep,
    session: SessionDep,
    options: OptionsDep,
    by: Literal["procedure", "channel"] = "procedure",
) -> Response:
    """A unit's figures per procedure or per channel (1 counter, 2 online, 3 postal)."""
    return _json(await breakdown(session, period=period, unit=unit, by=by, now=datetime.now(UTC), options=options))


@router.get("/trend")
async def get_trend(
    unit: UnitDep,
    period: PeriodDep,
    session: SessionDep,
    options: OptionsDep,
    months: Annotated[int, Query(ge=1, le=36)] = 12,
) -> list[TrendMonth]:
    """Month by month up to the period's last month: received, 766 score and rates."""
    trend = await monthly_trend(
        session,
        months=months_until(period, months),
        unit=unit,
        units=load_units(),
        now=datetime.now(UTC),
        options=options,
    )
    return [TrendMonth.model_validate(m) for m in trend]


def year_targets(settings: MetricsSettings, period: Period) -> tuple[int, YearTargets | None]:
    """The targets of the period's year (its first day's), or None when the file has none for it."""
    year = period.start.astimezone(TZ).year
    try:
        return year, load_targets(settings.targets_path).get(year)
    except (OSError, ValueError) as exc:  # an operator's edit that does not parse: say so, serve no guess
        raise HTTPException(503, detail=f"the targets file cannot be used: {str(exc)[:300]}") from exc


@router.get("/received-elsewhere")
async def get_received_elsewhere(session: SessionDep, period: PeriodDep, unit: UnitDep) -> ReceivedElsewhere:
    """Dossiers received outside their handling unit's area (tiếp nhận không phụ thuộc địa giới
    hành chính): per handling unit, the units that received them. Indicators count them for the
    handling unit, as the portal does."""
    return ReceivedElsewhere.model_validate(
        await received_elsewhere(session, period=period, unit=unit, units=load_units())
    )


@router.get("/targets")
async def get_targets(report: ReportDep, settings: SettingsDep, period: PeriodDep, unit: UnitDep) -> Targets:
    """The plan's targets for the period's year beside the actual values, with the units that fall
    short; none for a year without targets (never another year's)."""
    year, targets = year_targets(settings, period)
    return Targets.model_validate(
        {
            "period": report["period"],
            "unit": unit,
            "year": year,
            "plan": targets.plan if targets else None,
            "targets": targets_report(report, targets),
        }
    )


@router.get("/report.csv", **download("text/csv", "The report, UTF-8 with BOM"))
async def report_csv(report: ReportDep, period: PeriodDep, unit: UnitDep) -> Response:
    """The monthly report as CSV (UTF-8 with BOM)."""
    name = f"bao-cao-766-{unit}-{period.label}.csv"
    return Response(
        to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/report.xlsx", **download(XLSX, "The workbook"))
async def report_xlsx(report: ReportDep, settings: SettingsDep, period: PeriodDep, unit: UnitDep) -> Response:
    """The monthly report as an Excel workbook (index sheet and Plan 617 targets sheet)."""
    name = f"bao-cao-766-{unit}-{period.label}.xlsx"
    year, targets = year_targets(settings, period)
    return Response(
        to_xlsx(report, targets_report(report, targets), year=year),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@dossier_router.get("/overdue")
async def get_overdue(
    session: SessionDep, unit: UnitDep, reader: ReaderDep, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[Overdue]:
    """Open dossiers past their deadline now (live), most overdue first; 403 for a unit the
    reader token is not bound to (nor below one it is)."""
    check_unit(reader, unit)
    now = datetime.now(UTC)
    query = (
        select(
            DossierFact.dossier_code,
            DossierFact.unit_code,
            DossierFact.procedure_code,
            DossierFact.status,
            DossierFact.received_at,
            DossierFact.deadline_at,
        )
        .where(DossierFact.on_time.is_(None), DossierFact.deadline_at < now)
        .where((DossierFact.unit_code == unit) | DossierFact.unit_code.like(f"{unit}.%"))
        .order_by(DossierFact.deadline_at)
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    return [Overdue(**r._mapping, overdue_hours=round((now - r.deadline_at).total_seconds() / 3600, 1)) for r in rows]


@dossier_router.get("/dossiers/{code}", **prebuilt_json(DossierView))
async def get_dossier(
    request: Request,
    processing: ProcessingDep,
    code: Annotated[str, Path(pattern=DOSSIER_CODE_PATTERN, description="Mã hồ sơ")],
    reader: ReaderDep,
) -> Response:
    """Drill-down: the dossier's state and control sheet, as processing holds them (which checks
    the token again)."""
    check_dossier(reader, code)
    response = await processing.get(f"/v1/dossiers/{code}", headers=_forwarded(request))
    if response.status_code != 200:
        raise HTTPException(response.status_code, detail=response.json().get("detail", "not available"))
    # Relayed as processing wrote it: processing's answer already has this shape.
    return Response(response.content, media_type="application/json")


def _forwarded(request: Request) -> dict[str, str]:
    auth = request.headers.get("authorization")
    return {"authorization": auth} if auth else {}
