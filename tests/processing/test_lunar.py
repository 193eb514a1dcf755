"""Vietnamese (UTC+7) lunar -> solar conversion, checked against known dates.

Sources of the expected values: the lunar dates printed in the government's
holiday notices (e.g. Thông báo 9441/TB-BNV: 14/2/2026 = 27 tháng Chạp Ất Tỵ,
16/2/2026 = 29 tháng Chạp, 22/2/2026 = mùng 6 tháng Giêng Bính Ngọ), and the
Vietnam-specific Tết dates kept by the `holidays` package (UTC+7 table).
"""

from datetime import date

import pytest

from services.processing.lunar import leap_month, lunar_to_solar


@pytest.mark.parametrize(
    "year, expected",
    [
        (2020, date(2020, 1, 25)),
        (2023, date(2023, 1, 22)),
        (2024, date(2024, 2, 10)),
        (2025, date(2025, 1, 29)),
        (2026, date(2026, 2, 17)),
    ],
)
def test_tet(year, expected):
    assert lunar_to_solar(year, 1, 1) == expected


@pytest.mark.parametrize(
    "year, vietnam, china",
    [
        # The Chinese calendar (UTC+8) puts these a day or a month elsewhere.
        (1985, date(1985, 1, 21), date(1985, 2, 20)),  # China had a leap 10th month in 1984
        (2007, date(2007, 2, 17), date(2007, 2, 18)),  # new moon just before midnight at UTC+7
        (2030, date(2030, 2, 2), date(2030, 2, 3)),
    ],
)
def test_tet_uses_vietnamese_time_zone_not_chinese(year, vietnam, china):
    assert lunar_to_solar(year, 1, 1) == vietnam != china


@pytest.mark.parametrize(
    "year, expected",
    [
        (2024, date(2024, 4, 18)),
        (2025, date(2025, 4, 7)),  # a Monday
        (2026, date(2026, 4, 26)),  # a Sunday -> compensatory Monday (see workcalendar tests)
    ],
)
def test_hung_kings_day_10th_of_3rd_month(year, expected):
    assert lunar_to_solar(year, 3, 10) == expected


@pytest.mark.parametrize(
    "lunar, expected",
    [
        ((2019, 12, 29), date(2020, 1, 23)),  # Tết 2020 notice: "23/1/2020 (29 tháng Chạp Kỷ Hợi)"
        ((2023, 12, 29), date(2024, 2, 8)),  # Tết 2024 notice: "8/2/2024 (29 tháng Chạp Quý Mão)"
        ((2024, 12, 26), date(2025, 1, 25)),  # Tết 2025 notice: "25/1/2025 (26 tháng Chạp Giáp Thìn)"
        ((2025, 1, 5), date(2025, 2, 2)),  # ... to "2/2/2025 (mùng 5 tháng Giêng Ất Tỵ)"
        ((2025, 12, 27), date(2026, 2, 14)),  # Tết 2026 notice: "14/2/2026 (27 tháng Chạp Ất Tỵ)"
        ((2025, 12, 29), date(2026, 2, 16)),
        ((2026, 1, 6), date(2026, 2, 22)),  # ... to "22/2/2026 (mùng 6 tháng Giêng Bính Ngọ)"
    ],
)
def test_dates_printed_in_official_notices(lunar, expected):
    assert lunar_to_solar(*lunar) == expected


def test_last_month_of_at_ty_has_29_days():
    # 16/2/2026 is 29 Chạp and 17/2/2026 is Tết, so 30 Chạp Ất Tỵ does not exist.
    with pytest.raises(ValueError):
        lunar_to_solar(2025, 12, 30)


def test_leap_month_2025_is_the_sixth():
    assert leap_month(2025) == 6
    assert lunar_to_solar(2025, 6, 1) == date(2025, 6, 25)
    assert lunar_to_solar(2025, 6, 1, leap=True) == date(2025, 7, 25)
    # Months after the leap month are shifted by one lunation.
    assert lunar_to_solar(2025, 7, 15) == date(2025, 9, 6)  # Rằm tháng Bảy (Vu Lan)
    assert lunar_to_solar(2025, 8, 15) == date(2025, 10, 6)  # Tết Trung thu


def test_leap_month_2023_is_the_second():
    assert leap_month(2023) == 2
    assert lunar_to_solar(2023, 2, 1, leap=True) == date(2023, 3, 22)


@pytest.mark.parametrize("year", [2024, 2026])
def test_years_without_leap_month(year):
    assert leap_month(year) is None
    with pytest.raises(ValueError):
        lunar_to_solar(year, 6, 1, leap=True)


def test_leap_flag_on_the_wrong_month_is_rejected():
    with pytest.raises(ValueError):
        lunar_to_solar(2025, 5, 1, leap=True)


@pytest.mark.parametrize("args", [(2025, 13, 1), (2025, 0, 1), (2025, 1, 31), (2025, 1, 0), (1700, 1, 1)])
def test_out_of_range_arguments(args):
    with pytest.raises(ValueError):
        lunar_to_solar(*args)
