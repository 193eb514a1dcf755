"""Plan targets by year beside the actual values, with the units short of them.

The targets load from a file an operator edits (data/targets.json, or METRICS_TARGETS_PATH): Plan
617's appendix gives 2025's; a year the file does not list has none (never another year's). Where
the plan's body and appendix disagree, the target judged is the file's `target` and the other
figure is shown beside it with its source and a note.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from services.metrics.reports import RATES

DEFAULT_TARGETS = Path(__file__).parent / "data" / "targets.json"


class Alternative(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: float = Field(ge=0, le=1)
    source: str
    note: str


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rate: str
    target: float = Field(ge=0, le=1)
    label: str
    source: str
    alternatives: list[Alternative] = Field(default_factory=list)


class YearTargets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan: str
    targets: list[Target]


class TargetsFile(BaseModel):
    model_config = ConfigDict(extra="ignore")  # "_about"
    years: dict[int, YearTargets]


def load_targets(path: str | None = None) -> dict[int, YearTargets]:
    """The file's targets per year, read again when the file changes (an operator's edit applies
    without a restart); a rate the indicators do not compute is refused."""
    file = Path(path or DEFAULT_TARGETS)
    return _parse(file, file.stat().st_mtime_ns)


@cache
def _parse(file: Path, version: int) -> dict[int, YearTargets]:
    parsed = TargetsFile.model_validate(json.loads(file.read_text(encoding="utf-8")))
    unknown = {t.rate for y in parsed.years.values() for t in y.targets} - set(RATES)
    if unknown:
        raise ValueError(f"targets file: unknown rate(s) {sorted(unknown)}; known: {sorted(RATES)}")
    return parsed.years


def met(name: str, rate: dict, target: float) -> bool | None:
    """None when there is nothing to judge, except that a PAKN target with no PAKN is met."""
    if rate["ratio"] is None:
        return True if name == "pakn_on_time_rate" else None
    return rate["ratio"] >= target


def targets_report(report: dict, year_targets: YearTargets | None) -> list[dict]:
    """For each target of the year: the unit's actual value, whether it is met, the child units
    short of it, and the plan's other figure where its body and appendix disagree."""
    if year_targets is None:
        return []
    out = []
    for t in year_targets.targets:
        actual = report["unit"]["rates"][t.rate]
        short = [
            {"unit_code": c["key"], "name": c["name"], "ratio": c["rates"][t.rate]["ratio"]}
            for c in report["children"]
            if c["received"] and met(t.rate, c["rates"][t.rate], t.target) is False
        ]
        out.append(
            {
                "rate": t.rate,
                "label": t.label,
                "target": t.target,
                "source": t.source,
                "alternatives": [a.model_dump() for a in t.alternatives],
                "actual": actual["ratio"],
                "numerator": actual["numerator"],
                "denominator": actual["denominator"],
                "met": met(t.rate, actual, t.target),
                "units_short": sorted(short, key=lambda u: u["ratio"]),
            }
        )
    return out
