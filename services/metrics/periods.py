"""Reporting periods: a month (2026-08), a quarter (2026-Q3), a year (2026) or a date range.

Boundaries are local days in Asia/Ho_Chi_Minh; `end` is exclusive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True)
class Period:
    label: str
    start: datetime
    end: datetime  # exclusive

    def previous(self) -> Period:
        """The period of the same kind just before this one."""
        first = self.start.date()
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}", self.label):
            return parse_period((first - timedelta(days=1)).strftime("%Y-%m"))
        if re.fullmatch(r"[0-9]{4}-Q[1-4]", self.label):
            prev = first - timedelta(days=1)
            return parse_period(f"{prev.year}-Q{(prev.month - 1) // 3 + 1}")
        if re.fullmatch(r"[0-9]{4}", self.label):
            return parse_period(str(first.year - 1))
        days = (self.end - self.start).days
        return date_range(first - timedelta(days=days), first - timedelta(days=1))


def _at(day: date) -> datetime:
    return datetime.combine(day, time(), TZ)


def _month_after(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1)


def date_range(first: date, last: date) -> Period:
    if last < first:
        raise ValueError("the range ends before it starts")
    return Period(f"{first.isoformat()}..{last.isoformat()}", _at(first), _at(last + timedelta(days=1)))


def parse_period(text: str) -> Period:
    """Parse 2026-08, 2026-Q3 or 2026; raise ValueError saying which forms are accepted."""
    if m := re.fullmatch(r"([0-9]{4})-([0-9]{2})", text):
        year, month = int(m[1]), int(m[2])
        if 1 <= month <= 12:
            return Period(text, _at(date(year, month, 1)), _at(_month_after(year, month)))
    elif m := re.fullmatch(r"([0-9]{4})-Q([1-4])", text):
        year, quarter = int(m[1]), int(m[2])
        return Period(text, _at(date(year, 3 * quarter - 2, 1)), _at(_month_after(year, 3 * quarter)))
    elif m := re.fullmatch(r"([0-9]{4})", text):
        year = int(m[1])
        return Period(text, _at(date(year, 1, 1)), _at(date(year + 1, 1, 1)))
    raise ValueError(f"period {text!r} is not a month (2026-08), a quarter (2026-Q3) or a year (2026)")


def months_until(period: Period, count: int) -> list[Period]:
    """The `count` months ending with the period's last month, oldest first."""
    last = (period.end - timedelta(days=1)).date()
    months, year, month = [], last.year, last.month
    for _ in range(count):
        months.append(parse_period(f"{year:04d}-{month:02d}"))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]
