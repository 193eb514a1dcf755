"""The figures the API, the dashboard and the monthly export show, built from the counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.aggregates import Counts, count, roll_up
from services.metrics.index766 import index766
from services.metrics.periods import Period
from shared.units import UnitTree

# name -> (numerator, denominator, Vietnamese label)
RATES = {
    "online_rate": ("online", "received", "Hồ sơ trực tuyến"),
    "digitization_rate": ("digitized", "received", "Hồ sơ số hóa"),
    "on_time_rate": ("on_time", "received", "Hồ sơ đúng hạn"),
    "sync_rate": ("synced", "received", "Hồ sơ đồng bộ Cổng DVCQG"),
    "electronic_result_rate": ("electronic_result", "received", "Kết quả điện tử"),
    "reuse_rate": ("reused", "received", "Tái sử dụng dữ liệu số"),
    "document_result_rate": ("document_result", "document_expected", "Kết quả ban hành qua hệ thống QLVB"),
    "online_payment_rate": ("paid_online", "has_fee", "Thanh toán trực tuyến"),
    "satisfaction_rate": ("satisfied", "received", "Mức độ hài lòng"),
    "pakn_on_time_rate": ("feedback_on_time", "feedback", "PAKN xử lý đúng hạn"),
    "full_online_procedures_rate": ("procedures_full_online", "procedures", "Thủ tục trực tuyến toàn trình"),
}


@dataclass(frozen=True)
class Options:
    online_formula: str = "procedures_online"


def rates(counts: Counts) -> dict[str, dict]:
    out = {}
    for name, (num, den, label) in RATES.items():
        n, d = counts[num], counts[den]
        out[name] = {"label": label, "numerator": n, "denominator": d, "ratio": round(n / d, 4) if d else None}
    return out


def row(key: str, counts: Counts, options: Options, units: UnitTree | None = None) -> dict:
    unit = units.units.get(key) if units else None
    return {
        "key": key,
        "name": unit.name if unit else None,
        "level": unit.level if unit else None,
        "received": counts["received"],
        "rates": rates(counts),
        # No dossier received: no index (its PAKN components would otherwise score in full).
        "index": index766(counts, online_formula=options.online_formula) if counts["received"] else None,
    }


def _change(now: dict, before: dict) -> dict:
    if not now["received"] or not before["received"]:
        return {"score": None, "on_time_rate": None}
    on_time = now["rates"]["on_time_rate"]["ratio"], before["rates"]["on_time_rate"]["ratio"]
    return {
        "score": round(now["index"]["score"] - before["index"]["score"], 2),
        "on_time_rate": round(on_time[0] - on_time[1], 4) if None not in on_time else None,
    }


async def unit_report(
    session: AsyncSession, *, period: Period, unit: str, units: UnitTree, now: datetime, options: Options
) -> dict:
    """The unit and each unit directly below it, ranked by index score, with the change
    against the previous period of the same kind."""
    current = roll_up(await count(session, period, min(now, period.end)), units)
    previous_period = period.previous()
    previous = roll_up(await count(session, previous_period, min(now, previous_period.end)), units)
    children = []
    for child in units.children(unit):
        r = row(child.code, current.get(child.code, Counts()), options, units)
        r["change"] = _change(r, row(child.code, previous.get(child.code, Counts()), options))
        children.append(r)
    ranked = sorted((c for c in children if c["received"]), key=lambda c: -c["index"]["score"])
    for rank, ranked_row in enumerate(ranked, start=1):
        ranked_row["rank"] = rank
    this = row(unit, current.get(unit, Counts()), options, units)
    this["change"] = _change(this, row(unit, previous.get(unit, Counts()), options))
    return {
        "period": period_json(period),
        "previous_period": period_json(previous_period),
        "judged_at": min(now, period.end),
        "unit": this,
        "children": sorted(children, key=lambda c: (c.get("rank") is None, c.get("rank", 0), c["key"])),
    }


async def breakdown(
    session: AsyncSession, *, period: Period, unit: str, by: str, now: datetime, options: Options
) -> dict:
    """The unit's dossiers (with the units below it) per procedure or per channel."""
    groups = await count(session, period, min(now, period.end), by=by, unit=unit)
    return {
        "period": period_json(period),
        "unit": unit,
        "by": by,
        "rows": [row(key, counts, options) for key, counts in sorted(groups.items())],
    }


async def monthly_trend(
    session: AsyncSession, *, months: list[Period], unit: str, units: UnitTree, now: datetime, options: Options
) -> list[dict]:
    trend = []
    for month in months:
        counts = roll_up(await count(session, month, min(now, month.end)), units).get(unit, Counts())
        r = row(unit, counts, options, units)
        score = r["index"]["score"] if r["index"] else None
        trend.append({"period": month.label, "received": r["received"], "score": score,
                      "rates": {k: v["ratio"] for k, v in r["rates"].items()}})
    return trend


def period_json(period: Period) -> dict:
    return {"label": period.label, "start": period.start, "end": period.end}
