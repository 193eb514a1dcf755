"""Working-day calendar: hand-worked cases, each with its dates and expected answer.

`official` uses the shipped override table (data/holidays.json); `statutory`
uses the Labour Code rule alone, to show where the table changes the answer.
"""

import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.processing.workcalendar import (
    DEFAULT_TABLE,
    TimeLimit,
    WorkCalendar,
    _add_months,
    load_calendar,
    statutory_days,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def at(y, m, d, hh=9, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=VN)


@pytest.fixture(scope="module")
def official():
    return load_calendar()


@pytest.fixture(scope="module")
def statutory():
    return WorkCalendar()


# --- holidays -----------------------------------------------------------------


def test_days_off_2026_official(official):
    # Tết Dương lịch 1-4/1 (Fri 2/1 swapped), Tết 14-22/2 (weekdays 16-20/2),
    # Hùng Kings Sun 26/4 -> compensatory Mon 27/4, 30/4 Thu, 1/5 Fri,
    # Quốc khánh 29/8-2/9 (Mon 31/8 swapped to Sat 22/8, plus Tue 1/9 and Wed 2/9).
    expected = [date(2026, 1, 1), date(2026, 1, 2)]
    expected += [date(2026, 2, d) for d in range(16, 21)]
    expected += [date(2026, 4, 27), date(2026, 4, 30), date(2026, 5, 1)]
    expected += [date(2026, 8, 31), date(2026, 9, 1), date(2026, 9, 2)]
    assert official.days_off(2026) == expected


def test_tet_2026_weekends_inside_the_nine_day_break(official):
    for d in range(14, 23):  # Sat 14/2 .. Sun 22/2
        assert not official.is_working_day(date(2026, 2, d))
    assert official.is_working_day(date(2026, 2, 13))  # Friday before
    assert official.is_working_day(date(2026, 2, 23))  # Monday after


def test_compensatory_day_for_hung_kings_on_sunday(official):
    # 10/3 lunar 2026 = Sunday 26/4/2026 -> Monday 27/4 off (Labour Code art. 111.3).
    assert statutory_days(2026)["hung_kings"] == {date(2026, 4, 26), date(2026, 4, 27)}
    assert not official.is_working_day(date(2026, 4, 27))
    assert official.is_working_day(date(2026, 4, 28))


def test_compensatory_day_for_labour_day_on_saturday(statutory):
    # 1/5/2027 is a Saturday -> Monday 3/5/2027 off; 30/4/2027 is a Friday.
    assert statutory_days(2027)["labour_day"] == {date(2027, 5, 1), date(2027, 5, 3)}
    assert not statutory.is_working_day(date(2027, 5, 3))
    assert statutory.is_working_day(date(2027, 5, 4))


def test_compensatory_days_do_not_collide_in_tet_2024(statutory):
    # Tết 2024 = Sat 10/2. Statutory five days: Fri 9/2 .. Tue 13/2, two of them on the
    # weekend -> compensatory Wed 14/2 and Thu 15/2.
    assert statutory_days(2024)["tet"] == {date(2024, 2, d) for d in range(9, 16)}


@pytest.mark.parametrize(
    "sep2, other",
    [
        (date(2024, 9, 2), date(2024, 9, 3)),  # Monday -> 3/9 (as decided in 2024)
        (date(2025, 9, 2), date(2025, 9, 1)),  # Tuesday -> 1/9 (as decided in 2025)
        (date(2026, 9, 2), date(2026, 9, 1)),  # Wednesday -> 1/9 (as decided in 2026)
        (date(2027, 9, 2), date(2027, 9, 3)),  # Thursday -> 3/9
        (date(2033, 9, 2), date(2033, 9, 1)),  # Friday -> 1/9
    ],
)
def test_national_day_adjacent_day(sep2, other):
    assert statutory_days(sep2.year)["national_day"] == {sep2, other}


@pytest.mark.parametrize(
    "days",
    [
        # Sat 2/9/2028: adjacent Fri 1/9, compensatory Mon 4/9.
        {date(2028, 9, 1), date(2028, 9, 2), date(2028, 9, 4)},
        # Sun 2/9/2029: adjacent Mon 3/9, compensatory (next free weekday) Tue 4/9.
        {date(2029, 9, 2), date(2029, 9, 3), date(2029, 9, 4)},
    ],
)
def test_national_day_on_weekend(days):
    assert statutory_days(min(days).year)["national_day"] == days


def test_override_table_wins_over_statutory_tet_2024(official, statutory):
    # Official 2024: Thu 8/2 .. Wed 14/2 (8662/VPCP-KGVX); statute alone: 9/2, 12-15/2.
    assert not official.is_working_day(date(2024, 2, 8))
    assert statutory.is_working_day(date(2024, 2, 8))
    assert official.is_working_day(date(2024, 2, 15))
    assert not statutory.is_working_day(date(2024, 2, 15))


def test_override_table_wins_over_statutory_tet_2025(official, statutory):
    # Official 2025: Sat 25/1 .. Sun 2/2, so Mon 27/1 is off and Mon 3/2 is a working day;
    # the statute alone gives 28/1-31/1 plus compensatory Mon 3/2 for Sat 1/2.
    received = at(2025, 1, 24, 10)  # Friday
    assert official.due_at(received, TimeLimit(1, "working_days")) == at(2025, 2, 3, 17)
    assert statutory.due_at(received, TimeLimit(1, "working_days")) == at(2025, 1, 27, 17)


def test_make_up_saturday_is_a_working_day(official):
    # 2025: Friday 2/5 off, Saturday 26/4 worked instead.
    assert official.is_working_day(date(2025, 4, 26))
    assert not official.is_working_day(date(2025, 5, 2))
    # Received Fri 25/4/2025 with 1 working day -> due Saturday 26/4 at 17:00.
    assert official.due_at(at(2025, 4, 25, 10), TimeLimit(1, "working_days")) == at(2025, 4, 26, 17)
    # 3 working days: Sat 26/4, Mon 28/4, Tue 29/4 (30/4 - 4/5 off).
    assert official.due_at(at(2025, 4, 25, 10), TimeLimit(3, "working_days")) == at(2025, 4, 29, 17)
    # 4 working days -> Mon 5/5.
    assert official.due_at(at(2025, 4, 25, 10), TimeLimit(4, "working_days")) == at(2025, 5, 5, 17)


def test_reception_on_make_up_saturday_counts_as_working_day(official):
    # Sat 10/1/2026 is a make-up working day: 1 working day -> Monday 12/1.
    assert official.due_at(at(2026, 1, 10, 9), TimeLimit(1, "working_days")) == at(2026, 1, 12, 17)


def test_custom_table_replaces_and_adds(tmp_path, statutory):
    # Statutory Tết 2027 (Tết = Sat 6/2/2027): 5/2, 8/2-11/2 off. The table moves it.
    table = {
        "years": {
            "2027": [
                {
                    "name": "Tết",
                    "replaces": ["tet"],
                    "off": ["2027-02-04/2027-02-10"],
                    "work": ["2027-02-20"],
                    "source": "test notice 1",
                },
                {"name": "extra", "off": ["2027-03-03"], "source": "test notice 2"},
            ]
        }
    }
    path = tmp_path / "holidays.json"
    path.write_text(json.dumps(table), encoding="utf-8")
    cal = load_calendar(path)
    assert not statutory.is_working_day(date(2027, 2, 11))
    assert cal.is_working_day(date(2027, 2, 11))  # statutory day dropped
    assert not cal.is_working_day(date(2027, 2, 4))  # table day added
    assert cal.is_working_day(date(2027, 2, 20))  # make-up Saturday
    assert not cal.is_working_day(date(2027, 3, 3))  # additive entry
    assert not cal.is_working_day(date(2027, 4, 30))  # other occasions stay statutory


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "no source", "off": ["2027-03-03"]},
        {"name": "bad occasion", "replaces": ["christmas"], "off": ["2027-03-03"], "source": "x"},
        {"name": "reversed range", "off": ["2027-03-05/2027-03-03"], "source": "x"},
    ],
)
def test_invalid_table_entries_are_rejected(tmp_path, entry):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"years": {"2027": [entry]}}), encoding="utf-8")
    with pytest.raises(ValueError):
        load_calendar(path)


def test_every_shipped_entry_names_a_source():
    data = json.loads(DEFAULT_TABLE.read_text(encoding="utf-8"))
    entries = [e for year in data["years"].values() for e in year]
    assert entries and all(e["source"].strip() for e in entries)


# --- working days ---------------------------------------------------------------


def test_due_date_spanning_tet_2026(official):
    # Received Thu 12/2/2026 09:00, 3 working days: Fri 13/2 (1), [14-22/2 Tết],
    # Mon 23/2 (2), Tue 24/2 (3) -> Tuesday 24/2/2026 17:00 +07.
    due = official.due_at(at(2026, 2, 12, 9), TimeLimit(3, "working_days"))
    assert due == at(2026, 2, 24, 17)
    assert due.utcoffset() == timedelta(hours=7)


def test_reception_on_sunday_starts_on_monday(official):
    # Sun 1/3/2026 -> treated as received Mon 2/3; 1 working day -> Tue 3/3.
    assert official.due_at(at(2026, 3, 1, 10), TimeLimit(1, "working_days")) == at(2026, 3, 3, 17)


def test_add_and_count_working_days_agree(official):
    assert official.add_working_days(date(2026, 2, 12), 3) == date(2026, 2, 24)
    assert official.working_days_between(date(2026, 2, 12), date(2026, 2, 24)) == 3
    assert official.working_days_between(date(2026, 2, 24), date(2026, 2, 12)) == -3
    assert official.add_working_days(date(2026, 2, 12), 0) == date(2026, 2, 12)
    with pytest.raises(ValueError):
        official.add_working_days(date(2026, 2, 12), -1)


def test_cutoff_off_by_default(official):
    # Thu 5/3/2026 15:30, 1 working day, no cut-off -> Fri 6/3 17:00.
    assert official.due_at(at(2026, 3, 5, 15, 30), TimeLimit(1, "working_days")) == at(2026, 3, 6, 17)


def test_cutoff_rolls_late_receipts_to_next_working_day():
    cal = load_calendar(cutoff=time(15, 0))
    one = TimeLimit(1, "working_days")
    # 15:30 Thu 5/3/2026 -> received Fri 6/3 -> due Mon 9/3.
    assert cal.due_at(at(2026, 3, 5, 15, 30), one) == at(2026, 3, 9, 17)
    # Exactly 15:00 also rolls; 14:59 does not.
    assert cal.due_at(at(2026, 3, 5, 15, 0), one) == at(2026, 3, 9, 17)
    assert cal.due_at(at(2026, 3, 5, 14, 59), one) == at(2026, 3, 6, 17)
    # Same instant given in UTC: 08:30Z = 15:30 at UTC+7.
    utc = datetime(2026, 3, 5, 8, 30, tzinfo=UTC)
    assert cal.due_at(utc, one) == at(2026, 3, 9, 17)
    # Rolled receipt before Tết 2026: Fri 13/2 16:00 -> received Mon 23/2 -> due Tue 24/2.
    assert cal.due_at(at(2026, 2, 13, 16), one) == at(2026, 2, 24, 17)


# --- hours ----------------------------------------------------------------------


def test_hours_across_lunch_break(official):
    # Tue 3/3/2026 10:30 + 4 h: 10:30-11:30 (1 h) + 13:30-16:30 (3 h) -> 16:30.
    assert official.due_at(at(2026, 3, 3, 10, 30), TimeLimit(4, "hours")) == at(2026, 3, 3, 16, 30)


def test_hours_ending_at_noon_do_not_jump_past_lunch(official):
    # 09:30 + 2 h -> 11:30 sharp, not 13:30.
    assert official.due_at(at(2026, 3, 3, 9, 30), TimeLimit(2, "hours")) == at(2026, 3, 3, 11, 30)


def test_hours_received_during_lunch(official):
    # 12:00 is in the lunch break: counting starts 13:30, + 1 h -> 14:30.
    assert official.due_at(at(2026, 3, 3, 12, 0), TimeLimit(1, "hours")) == at(2026, 3, 3, 14, 30)


def test_hours_across_weekend(official):
    # Fri 6/3/2026 16:00 + 8 h: Fri 16:00-17:00 (1), Mon 9/3 07:30-11:30 (4),
    # 13:30-16:30 (3) -> Monday 16:30.
    assert official.due_at(at(2026, 3, 6, 16), TimeLimit(8, "hours")) == at(2026, 3, 9, 16, 30)


def test_hours_received_on_saturday_start_monday_morning(official):
    # Sat 7/3/2026 + 2 h -> Mon 9/3 07:30 + 2 h = 09:30.
    assert official.due_at(at(2026, 3, 7, 10), TimeLimit(2, "hours")) == at(2026, 3, 9, 9, 30)


def test_custom_office_hours():
    cal = WorkCalendar(office_hours=((time(8), time(12)), (time(13), time(17, 30))))
    # Day-based limits end at the close of the last period.
    assert cal.due_at(at(2026, 3, 3, 9), TimeLimit(1, "working_days")) == at(2026, 3, 4, 17, 30)
    # 11:00 + 2 h: 11:00-12:00, 13:00-14:00 -> 14:00.
    assert cal.due_at(at(2026, 3, 3, 11), TimeLimit(2, "hours")) == at(2026, 3, 3, 14)
    with pytest.raises(ValueError):
        WorkCalendar(office_hours=((time(13), time(17)), (time(8), time(12))))


# --- calendar days and months --------------------------------------------------


def test_calendar_days_plain(official):
    # Mon 2/3/2026 + 10 days -> Thu 12/3/2026 17:00.
    assert official.due_at(at(2026, 3, 2), TimeLimit(10, "calendar_days")) == at(2026, 3, 12, 17)


def test_calendar_days_landing_on_weekend(official):
    # Mon 2/3/2026 + 5 days = Sat 7/3 -> Mon 9/3.
    assert official.due_at(at(2026, 3, 2), TimeLimit(5, "calendar_days")) == at(2026, 3, 9, 17)


def test_calendar_days_landing_on_tet(official):
    # Mon 9/2/2026 + 7 days = Mon 16/2 (Tết) -> next working day Mon 23/2.
    assert official.due_at(at(2026, 2, 9), TimeLimit(7, "calendar_days")) == at(2026, 2, 23, 17)


def test_months_clamped_to_month_end(official):
    # Thu 31/7/2025 + 2 months -> 31/9 does not exist -> Tue 30/9/2025.
    assert official.due_at(at(2025, 7, 31), TimeLimit(2, "months")) == at(2025, 9, 30, 17)


def test_months_clamped_then_moved_off_a_holiday(statutory):
    # Wed 31/3/2027 + 1 month = Fri 30/4/2027 (holiday); Sat 1/5 -> compensatory
    # Mon 3/5; so the due day is Tue 4/5/2027.
    assert statutory.due_at(at(2027, 3, 31), TimeLimit(1, "months")) == at(2027, 5, 4, 17)


@pytest.mark.parametrize(
    "start, n, expected",
    [
        (date(2024, 1, 31), 1, date(2024, 2, 29)),  # leap year
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2025, 12, 15), 2, date(2026, 2, 15)),  # across the year end
        (date(2025, 5, 31), 12, date(2026, 5, 31)),
    ],
)
def test_add_months(start, n, expected):
    assert _add_months(start, n) == expected


# --- validation -----------------------------------------------------------------


def test_naive_datetime_is_rejected(official):
    with pytest.raises(ValueError):
        official.due_at(datetime(2026, 3, 3, 9), TimeLimit(1, "working_days"))  # noqa: DTZ001 (the point)


@pytest.mark.parametrize("amount, unit", [(-1, "working_days"), (1, "weeks"), (1.5, "hours")])
def test_invalid_time_limit(amount, unit):
    with pytest.raises(ValueError):
        TimeLimit(amount, unit)


def test_next_years_table_added_as_docs_holidays_md_says(tmp_path, official):
    # The documented procedure: copy the shipped table, add the new year's official entries (each with
    # its source), point PROCESSING_HOLIDAYS_PATH at the copy. Here 2027 (a test notice, not the real
    # one) and 24/11 (Ngày Văn hóa Việt Nam) made a day off by the table alone, no code change.
    table = json.loads(DEFAULT_TABLE.read_text(encoding="utf-8"))
    table["years"]["2027"] = [
        {
            "name": "Tết Nguyên đán Đinh Mùi",
            "replaces": ["tet"],
            "off": ["2027-02-05/2027-02-12"],
            "source": "test notice for 2027",
        },
        {"name": "Ngày Văn hóa Việt Nam", "off": ["2027-11-24"], "source": "test notice for 2027"},
    ]
    table["years"]["2026"].append({"name": "Ngày Văn hóa Việt Nam", "off": ["2026-11-24"], "source": "test notice"})
    path = tmp_path / "holidays.json"
    path.write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
    edited = load_calendar(path)
    assert official.is_working_day(date(2027, 11, 24)) and not edited.is_working_day(date(2027, 11, 24))
    assert official.is_working_day(date(2026, 11, 24)) and not edited.is_working_day(date(2026, 11, 24))
    assert not edited.is_working_day(date(2027, 2, 12)) and official.is_working_day(date(2027, 2, 12))
    # Received Tue 23/11/2027, 1 working day: Wed 24/11 is now off, so due Thu 25/11 at 17:00.
    assert official.due_at(at(2027, 11, 23), TimeLimit(1, "working_days")) == at(2027, 11, 24, 17)
    assert edited.due_at(at(2027, 11, 23), TimeLimit(1, "working_days")) == at(2027, 11, 25, 17)
    # Earlier years answer as before.
    assert edited.days_off(2025) == official.days_off(2025)


def test_remembered_answers_match_fresh_ones_and_the_memory_stays_bounded(monkeypatch):
    import services.processing.workcalendar as workcalendar

    monkeypatch.setattr(workcalendar, "MEMO_SIZE", 5)
    remembering, fresh = load_calendar(), load_calendar()
    start = at(2026, 2, 10, 16, 30)  # just before the Tết break: the answer depends on the table
    questions = [(start + timedelta(hours=7 * i), TimeLimit(3 + i % 4, "working_days")) for i in range(12)]
    for received, limit in questions * 2:  # asked twice, as every re-fold does
        assert remembering.due_at(received, limit) == fresh._due_at(received, limit)
        assert remembering.office_time_between(start, received) == fresh._office_time_between(start, received)
    assert len(remembering._memo) <= 5
    # The same instant in another zone is the same question, with the same answer.
    assert remembering.due_at(start.astimezone(UTC), TimeLimit(3, "working_days")) == remembering.due_at(
        start, TimeLimit(3, "working_days")
    )
