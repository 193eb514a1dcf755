"""Working-day calendar for dossier due dates (Vietnamese public sector).

Working day: Monday-Friday that is not a day off, plus make-up Saturdays (làm bù).
Days off of a year = the statutory rule, except that every occasion named in the
official override table (data/holidays.json, loaded by `load_calendar`) for that
year is replaced by the table's days; the table also adds make-up working days.

Statutory rule (Labour Code 2019 art. 112 and art. 111.3), per occasion:
  new_year 1/1 · tet: last day of the lunar year + days 1-4 of month 1 (the Prime
  Minister picks the real split yearly, hence the table) · hung_kings 10/3 lunar
  · reunification 30/4 · labour_day 1/5 · national_day 2/9 plus 3/9 when 2/9 is a
  Monday, Thursday or Sunday, else 1/9 (joins the break to a weekend, as 2024-2026
  did). A statutory day on a Saturday or Sunday gives a compensatory day off on
  the next weekday that is not already off. Lunar dates use UTC+7 (see lunar.py).

Due dates (`due_at`), computed in Asia/Ho_Chi_Minh; results are aware datetimes:
  * Effective reception: the local reception day, if it is a working day and the
    time is before the cut-off (`cutoff`, default None = no cut-off); otherwise
    the next working day, from the opening of office hours.
  * Day-based limits do not count the reception day (Civil Code 2015 art. 147-148):
    working_days -> the Nth working day after the effective reception day;
    calendar_days -> that day + N days; months -> same day-of-month N months
    later, clamped to the month's last day. A calendar_days/months result on a
    non-working day moves to the next working day. The due moment is the close
    of office (end of the last office-hours period, 17:00 by default) on that day.
  * hours: N hours of office time (default 07:30-11:30 and 13:30-17:00, working
    days only) counted from the effective reception moment; due exactly when the
    Nth hour is used up (so it can be 11:30, never inside the lunch break).
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from services.processing.lunar import lunar_to_solar

Unit = Literal["working_days", "calendar_days", "hours", "months"]
OCCASIONS = ("new_year", "tet", "hung_kings", "reunification", "labour_day", "national_day")
DEFAULT_OFFICE_HOURS = ((time(7, 30), time(11, 30)), (time(13, 30), time(17, 0)))
DEFAULT_TABLE = Path(__file__).with_name("data") / "holidays.json"
_DAY = timedelta(days=1)
MEMO_SIZE = 100_000  # remembered answers (~25 MB at most)


@dataclass(frozen=True)
class TimeLimit:
    amount: int
    unit: Unit

    def __post_init__(self) -> None:
        if self.unit not in get_args(Unit) or not isinstance(self.amount, int) or self.amount < 0:
            raise ValueError(f"invalid time limit: {self.amount!r} {self.unit!r}")


@dataclass(frozen=True)
class Override:
    """One entry of the official table: days off and make-up days for `year`."""

    year: int
    name: str
    source: str
    off: frozenset[date] = frozenset()
    work: frozenset[date] = frozenset()
    replaces: frozenset[str] = frozenset()


def statutory_days(year: int) -> dict[str, set[date]]:
    """Statutory days off of `year` per occasion, compensatory days included."""
    tet, sep2 = lunar_to_solar(year, 1, 1), date(year, 9, 2)
    occ = {
        "new_year": {date(year, 1, 1)},
        "tet": {tet + i * _DAY for i in range(-1, 4)},
        "hung_kings": {lunar_to_solar(year, 3, 10)},
        "reunification": {date(year, 4, 30)},
        "labour_day": {date(year, 5, 1)},
        "national_day": {sep2, sep2 + (_DAY if sep2.weekday() in (0, 3, 6) else -_DAY)},
    }
    taken = set().union(*occ.values())
    for day, name in sorted((d, n) for n, days in occ.items() for d in days):
        if day.weekday() >= 5:
            comp = day + _DAY
            while comp.weekday() >= 5 or comp in taken:
                comp += _DAY
            taken.add(comp)
            occ[name].add(comp)
    return occ


class WorkCalendar:
    def __init__(
        self,
        overrides: Iterable[Override] = (),
        *,
        cutoff: time | None = None,
        office_hours=DEFAULT_OFFICE_HOURS,
        tz: str = "Asia/Ho_Chi_Minh",
    ) -> None:
        self.overrides = tuple(overrides)
        self.office_hours = tuple(tuple(period) for period in office_hours)
        bounds = [t for period in self.office_hours for t in period]
        if not bounds or bounds != sorted(set(bounds)):
            raise ValueError("office_hours must be non-empty, ordered, non-overlapping periods")
        self.cutoff, self.tz = cutoff, ZoneInfo(tz)
        self._replaced = {(o.year, r) for o in self.overrides for r in o.replaces}
        self._off = frozenset().union(*(o.off for o in self.overrides))
        self._work = frozenset().union(*(o.work for o in self.overrides))
        self._statutory: dict[int, frozenset[date]] = {}
        # Answers by their arguments: a dossier is re-folded from all its events on every new fact,
        # asking the same due date and office time each time (a fold 51 -> 44 us without them). The
        # calendar never changes once built, so an answer never goes stale; emptied when full.
        self._memo: dict[tuple, object] = {}

    def _statutory_off(self, year: int) -> frozenset[date]:
        if year not in self._statutory:
            self._statutory[year] = frozenset(
                d for name, days in statutory_days(year).items() if (year, name) not in self._replaced for d in days
            )
        return self._statutory[year]

    def is_working_day(self, day: date) -> bool:
        if day in self._work:
            return True
        return day.weekday() < 5 and day not in self._off and day not in self._statutory_off(day.year)

    def days_off(self, year: int) -> list[date]:
        """Weekdays of `year` that are not working days (for display and checks)."""
        days = (date(year, 1, 1) + i * _DAY for i in range(365 + calendar.isleap(year)))
        return [d for d in days if d.weekday() < 5 and not self.is_working_day(d)]

    def add_working_days(self, day: date, n: int) -> date:
        """The nth working day after `day` (`day` itself is not counted; n=0 -> day)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        while n:
            day += _DAY
            n -= self.is_working_day(day)
        return day

    def working_days_between(self, a: date, b: date) -> int:
        """Working days d with a < d <= b (negative if b < a)."""
        if b < a:
            return -self.working_days_between(b, a)
        return sum(self.is_working_day(a + i * _DAY) for i in range(1, (b - a).days + 1))

    def _remembered(self, key: tuple, compute):
        if (found := self._memo.get(key)) is None:
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            found = self._memo[key] = compute()
        return found

    def office_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Office time (working days, office hours) from `a` to `b`; zero when b <= a."""
        return self._remembered(("office", a, b), lambda: self._office_time_between(a, b))

    def _office_time_between(self, a: datetime, b: datetime) -> timedelta:
        total = timedelta()
        a, b = a.astimezone(self.tz), b.astimezone(self.tz)
        day = a.date()
        while day <= b.date():
            if self.is_working_day(day):
                for opens, closes in self.office_hours:
                    start = max(a, datetime.combine(day, opens, self.tz))
                    end = min(b, datetime.combine(day, closes, self.tz))
                    total += max(end - start, timedelta())
            day += _DAY
        return total

    @property
    def office_day(self) -> timedelta:
        """The length of one working day's office hours (7.5 h by default)."""
        return sum(
            (datetime.combine(date.min, c) - datetime.combine(date.min, o) for o, c in self.office_hours), timedelta()
        )

    def due_at(self, received_at: datetime, limit: TimeLimit) -> datetime:
        if received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")
        return self._remembered(("due", received_at, limit), lambda: self._due_at(received_at, limit))

    def _due_at(self, received_at: datetime, limit: TimeLimit) -> datetime:
        local = received_at.astimezone(self.tz)
        day, start = local.date(), local.time()
        if not self.is_working_day(day) or (self.cutoff is not None and start >= self.cutoff):
            day, start = self.add_working_days(day, 1), self.office_hours[0][0]
        n = limit.amount
        if limit.unit == "hours":
            return self._add_office_hours(day, start, timedelta(hours=n))
        if limit.unit == "working_days":
            due = self.add_working_days(day, n)
        else:
            due = day + n * _DAY if limit.unit == "calendar_days" else _add_months(day, n)
            if not self.is_working_day(due):
                due = self.add_working_days(due, 1)
        return datetime.combine(due, self.office_hours[-1][1], tzinfo=self.tz)

    def _add_office_hours(self, day: date, start: time, remaining: timedelta) -> datetime:
        while True:
            if self.is_working_day(day):
                for opens, closes in self.office_hours:
                    begin = datetime.combine(day, max(opens, start), tzinfo=self.tz)
                    span = datetime.combine(day, closes, tzinfo=self.tz) - begin
                    if span > timedelta(0):
                        if remaining <= span:
                            return begin + remaining
                        remaining -= span
            day, start = day + _DAY, time.min


def _add_months(day: date, n: int) -> date:
    year, month = divmod(day.month - 1 + n, 12)
    year, month = day.year + year, month + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _dates(spec: str) -> set[date]:
    first, _, last = spec.partition("/")
    a, b = date.fromisoformat(first), date.fromisoformat(last or first)
    if b < a:
        raise ValueError(f"empty date range {spec!r}")
    return {a + i * _DAY for i in range((b - a).days + 1)}


def load_overrides(path: str | Path | None = None) -> list[Override]:
    """Parse the official table (default: data/holidays.json next to this module)."""
    table = json.loads(Path(path or DEFAULT_TABLE).read_text(encoding="utf-8"))
    result = []
    for year, entries in table["years"].items():
        for e in entries:
            where, replaces = f"{path or DEFAULT_TABLE}: {year} {e.get('name')!r}", e.get("replaces", ())
            if not str(e.get("source", "")).strip() or set(replaces) - set(OCCASIONS):
                raise ValueError(f"{where}: needs a 'source'; 'replaces' must be among {OCCASIONS}")
            off, work = (frozenset().union(*map(_dates, e.get(k, ()))) for k in ("off", "work"))
            result.append(Override(int(year), e.get("name", ""), e["source"], off, work, frozenset(replaces)))
    return result


def load_calendar(path: str | Path | None = None, **options) -> WorkCalendar:
    """A WorkCalendar from the override table at `path` (default: the shipped table).

    `options` go to WorkCalendar: cutoff=time(15) for provinces that roll late
    receipts to the next working day, office_hours=..., tz=...
    """
    return WorkCalendar(load_overrides(path), **options)
