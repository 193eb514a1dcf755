"""The shapes of metrics' answers, as the OpenAPI document shows them and the dashboard reads them.

reports.py and targets.py build the figures as plain dicts: /v1/indicators and its breakdown are
encoded straight from them (a province report is ~0.5 MB: validating it on every request would cost
what encoding it in Rust saves), so those models only document the answer. Smaller answers are
validated through them. A count is `int`, a ratio or a score `float`; a maximum that may be written
either way (a component's 6 points, a weight's 4.0) is `int | float`, so validation keeps it as
it was written.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from services.metrics.targets import Alternative
from shared.deps import Timestamp

Ratio = float | None
Points = int | float


class UnitOut(BaseModel):
    code: str
    name: str
    level: str = Field(description="PROVINCE (the province and its departments) or COMMUNE")
    parent: str | None


class PeriodOut(BaseModel):
    label: str = Field(description="2026-08, 2026-Q3, 2026, or first..last day of a date range")
    start: Timestamp
    end: Timestamp = Field(description="exclusive")


class Rate(BaseModel):
    label: str
    numerator: int
    denominator: int
    ratio: Ratio = Field(description="numerator / denominator to four decimals; None without a denominator")


class Component(BaseModel):
    code: str
    name: str
    max: Points
    tracked: bool = Field(description="false: a fact this system does not hold (shown, not scored)")
    numerator: int | None
    denominator: int | None
    ratio: Ratio
    score: float | None
    provisional: bool


class Group(BaseModel):
    code: str
    name: str
    max: Points
    max_available: Points = Field(description="the points its tracked components can reach")
    score: float
    provisional: bool
    components: list[Component]


class Index766(BaseModel):
    """The Quyết định 766 index: six groups, 100 points."""

    score: float
    max: int
    max_available: float
    groups: list[Group]


class Change(BaseModel):
    """Against the previous period of the same kind; None when either received nothing."""

    score: float | None
    on_time_rate: Ratio


class UnitFigures(BaseModel):
    key: str = Field(description="the unit code, or the procedure code or channel of a breakdown")
    name: str | None
    level: str | None
    received: int
    pending_catalog: int = Field(description="received and counted, not judged yet: procedure or unit unknown")
    rates: dict[str, Rate]
    index: Index766 | None = Field(description="None when nothing was received")


class RankedUnit(UnitFigures):
    change: Change
    rank: int | None = Field(default=None, description="by index score; absent when nothing was received")


class UnitReport(BaseModel):
    period: PeriodOut
    previous_period: PeriodOut
    judged_at: Timestamp = Field(description="the moment the verdicts are judged at (now, or the period's end)")
    unit: RankedUnit
    children: list[RankedUnit] = Field(description="the units directly below, ranked first")


class UnitShort(BaseModel):
    unit_code: str
    name: str | None
    ratio: float


class TargetResult(BaseModel):
    rate: str
    label: str
    target: float
    source: str
    alternatives: list[Alternative] = Field(description="the plan's other figure where its body and appendix disagree")
    actual: Ratio
    numerator: int
    denominator: int
    met: bool | None = Field(description="None when there is nothing to judge")
    units_short: list[UnitShort] = Field(description="child units short of the target, lowest first")


class YearTargets(BaseModel):
    year: int = Field(description="the year of the period's first day")
    plan: str | None = Field(description="None: no targets for that year")
    targets: list[TargetResult]


class Indicators(UnitReport):
    targets: YearTargets = Field(description="as /v1/targets")


class Targets(BaseModel):
    period: PeriodOut
    unit: str
    year: int = Field(description="the year of the period's first day")
    plan: str | None = Field(description="None: no targets for that year")
    targets: list[TargetResult]


class HandlingTime(BaseModel):
    """2.2 (shown, not scored): mean handling time of the procedure's processed dossiers."""

    value: float
    unit: str
    label: str
    dossiers: int


class BreakdownRow(UnitFigures):
    average_handling_time: HandlingTime | None = Field(
        default=None, description="per procedure only (absent per channel); None when none was handled"
    )


class Breakdown(BaseModel):
    period: PeriodOut
    unit: str
    by: Literal["procedure", "channel"]
    rows: list[BreakdownRow]


class TrendMonth(BaseModel):
    period: str
    received: int
    score: float | None
    rates: dict[str, Ratio] = Field(description="per rate, its ratio")


class ReceivingUnit(BaseModel):
    unit_code: str
    name: str | None
    dossiers: int


class ReceivedElsewhereUnit(BaseModel):
    unit_code: str = Field(description="the handling unit")
    name: str | None
    received_elsewhere: int
    received_by: list[ReceivingUnit]


class ReceivedElsewhere(BaseModel):
    period: PeriodOut
    unit: str
    total: int
    units: list[ReceivedElsewhereUnit]


class Overdue(BaseModel):
    dossier_code: str
    unit_code: str
    procedure_code: str
    status: int
    received_at: Timestamp | None
    deadline_at: Timestamp
    overdue_hours: float
