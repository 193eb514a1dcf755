"""The figures the API, the dashboard and the monthly export show, built from the counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics.aggregates import Counts, count, count_months, roll_up
from services.metrics.catalog import CatalogEntry
from services.metrics.index766 import DEFAULT_WEIGHTS, index766
from services.metrics.periods import TZ, Period
from shared.units import Unit, UnitTree

# name -> (numerator, denominator, Vietnamese label)
RATES = {
    "online_rate": ("online", "received", "Hồ sơ trực tuyến"),
    "digitization_rate": ("digitized", "received", "Hồ sơ số hóa"),
    "on_time_rate": ("on_time", "received", "Hồ sơ đúng hạn"),
    "sync_rate": ("synced", "received", "Hồ sơ đồng bộ Cổng DVCQG"),
    # Plan 617's 100%: final status and result on the portal, over dossiers that reached 9 or 10.
    "sync_full_rate": ("synced_final", "final", "Kết quả đồng bộ đầy đủ lên Cổng DVCQG"),
    "electronic_result_rate": ("electronic_result", "received", "Kết quả điện tử"),
    "reuse_rate": ("reused", "received", "Tái sử dụng dữ liệu số"),
    "document_result_rate": ("document_result", "document_expected", "Kết quả ban hành qua hệ thống QLVB"),
    "online_payment_rate": ("paid_online", "fee_owed", "Thanh toán trực tuyến"),
    "satisfaction_rate": ("satisfied", "received", "Mức độ hài lòng"),
    "pakn_on_time_rate": ("feedback_on_time", "feedback", "PAKN xử lý đúng hạn"),
    # Plan 617: full online service among the procedures eligible for it (catalog, the unit's level).
    "full_online_procedures_rate": (
        "catalog_eligible_full",
        "catalog_eligible",
        "DVC trực tuyến toàn trình trên thủ tục đủ điều kiện",
    ),
    "full_online_dossiers_rate": (
        "full_online_dossiers",
        "full_online_procedure_dossiers",
        "Hồ sơ xử lý trực tuyến toàn trình",
    ),
    # Reception regardless of administrative boundaries; the postal public service (per unit).
    "received_elsewhere_rate": ("received_elsewhere", "received", "Hồ sơ tiếp nhận ngoài địa bàn"),
    "received_by_post_rate": ("received_by_post", "received", "Hồ sơ tiếp nhận qua bưu chính công ích"),
    "returned_by_post_rate": ("returned_by_post", "returned", "Kết quả trả qua bưu chính công ích"),
}
TIME_UNITS = {"working_days": "ngày làm việc", "calendar_days": "ngày", "hours": "giờ làm việc", "months": "tháng"}


@dataclass(frozen=True)
class Options:
    # How CLGQ's 12 points split among 3.1, 3.2, 3.3 (provisional: not public).
    weights: tuple[float, float, float] = DEFAULT_WEIGHTS
    # The procedure catalog (from processing) for CLGQ 3.1/3.2 and Plan 617; None: not scored.
    catalog: dict[str, CatalogEntry] | None = None


def with_catalog(counts: Counts, options: Options, unit: Unit | None) -> Counts:
    """Set the counts that come from the catalog for the unit: procedures of its level (all for the
    province itself), those offering online service and those of them that had an online dossier
    (CLGQ 3.1/3.2), and those eligible for full online service and offering it (Plan 617)."""
    if options.catalog is None:
        counts.extra = {"catalog_eligible": 0, "catalog_eligible_full": 0}  # no ratio, not a guess
        return counts
    level = unit.level if unit and unit.parent is not None else None
    entries = {c: e for c, e in options.catalog.items() if level is None or e.level == level}
    online = {c for c, e in entries.items() if e.online in ("full", "partial")}
    # A procedure that already offers full online service is eligible for it.
    eligible = {c for c, e in entries.items() if e.full_online_eligible or e.online == "full"}
    counts.extra = {
        "catalog_procedures": len(entries),
        "catalog_online": len(online),
        "online_services_used": len(online & counts.procedures["procedures_online_used"]),
        "catalog_eligible": len(eligible),
        "catalog_eligible_full": sum(entries[c].online == "full" for c in eligible),
    }
    return counts


def rates(counts: Counts) -> dict[str, dict]:
    out = {}
    for name, (num, den, label) in RATES.items():
        n, d = counts[num], counts[den]
        out[name] = {"label": label, "numerator": n, "denominator": d, "ratio": round(n / d, 4) if d else None}
    return out


def row(key: str, counts: Counts, options: Options, units: UnitTree | None = None) -> dict:
    unit = units.units.get(key) if units else None
    with_catalog(counts, options, unit)
    return {
        "key": key,
        "name": unit.name if unit else None,
        "level": unit.level if unit else None,
        "received": counts["received"],
        # Received and counted, but not judged yet: their procedure or unit is not in the catalog.
        "pending_catalog": counts["pending_catalog"],
        "rates": rates(counts),
        # No dossier received: no index (its PAKN components would otherwise score in full).
        "index": index766(counts, weights=options.weights) if counts["received"] else None,
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
    first_day = period.start.astimezone(TZ).date()
    # Units merged or closed before the period are not listed (their dossiers still count above them);
    # a renamed unit shows the name it had when the period began.
    for child in units.children(unit, on=first_day):
        r = row(child.code, current.get(child.code, Counts()), options, units)
        r["name"] = child.name_on(first_day)
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
        "rows": [
            row(key, counts, options)
            | ({"average_handling_time": average_handling_time(counts)} if by == "procedure" else {})
            for key, counts in sorted(groups.items())
        ],
    }


def average_handling_time(counts: Counts) -> dict | None:
    """2.2 (shown, not scored): mean handling time of the procedure's processed dossiers received in
    the period, in the procedure's own time unit."""
    if not counts["handled"] or counts.time_unit is None:
        return None
    return {
        "value": round(counts["handling_time_centi"] / 100 / counts["handled"], 2),
        "unit": counts.time_unit,
        "label": TIME_UNITS.get(counts.time_unit, counts.time_unit),
        "dossiers": counts["handled"],
    }


async def monthly_trend(
    session: AsyncSession, *, months: list[Period], unit: str, units: UnitTree, now: datetime, options: Options
) -> list[dict]:
    trend = []
    per_month = await count_months(session, months, now, unit=unit)
    for month in months:
        r = row(unit, per_month.get(month.label, Counts()), options, units)
        score = r["index"]["score"] if r["index"] else None
        trend.append(
            {
                "period": month.label,
                "received": r["received"],
                "score": score,
                "rates": {k: v["ratio"] for k, v in r["rates"].items()},
            }
        )
    return trend


def period_json(period: Period) -> dict:
    return {"label": period.label, "start": period.start, "end": period.end}


async def received_elsewhere(session: AsyncSession, *, period: Period, unit: str, units: UnitTree) -> dict:
    """Dossiers received outside their handling unit's area (reception regardless of administrative
    boundaries), per handling unit within `unit`, with the units that received them."""
    rows = await session.execute(
        text(
            "SELECT unit_code, receiving_unit_code, count(*) AS n FROM dossier_facts "
            "WHERE received_at >= :start AND received_at < :end AND receiving_unit_code IS NOT NULL "
            "AND (unit_code = :unit OR unit_code LIKE :unit || '.%') GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2"
        ),
        {"start": period.start, "end": period.end, "unit": unit},
    )
    by_unit: dict[str, dict] = {}
    for handling, receiving, n in rows.tuples():
        entry = by_unit.setdefault(
            handling,
            {"unit_code": handling, "name": _name(units, handling), "received_elsewhere": 0, "received_by": []},
        )
        entry["received_elsewhere"] += n
        entry["received_by"].append({"unit_code": receiving, "name": _name(units, receiving), "dossiers": n})
    return {
        "period": period_json(period),
        "unit": unit,
        "total": sum(e["received_elsewhere"] for e in by_unit.values()),
        "units": sorted(by_unit.values(), key=lambda e: (-e["received_elsewhere"], e["unit_code"])),
    }


def _name(units: UnitTree, code: str) -> str | None:
    unit = units.units.get(code)
    return unit.name if unit else None
