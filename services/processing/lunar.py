"""Vietnamese lunar calendar (âm lịch) to Gregorian dates, computed for UTC+7.

Ho Ngoc Duc's published algorithm ("Thuật toán tính âm lịch"): new moons and the
sun's longitude come from short astronomical series (Meeus), evaluated in the
Vietnamese time zone. A lunar month starts on the local day of a new moon; the
11th month is the one that contains the winter solstice; a year with 13 months
between two 11th months gets a leap month, which is the first month after the
11th that contains no major solar term (trung khí).

The Chinese calendar uses the same rules at UTC+8, so the two occasionally
differ by a day or a whole month (Tết 1985: 21/1 in Vietnam, 20/2 in China;
Tết 2007: 17/2 vs 18/2). Do not replace this with a Chinese-calendar library.

Supported range: lunar years 1800-2199 (the range of Ho Ngoc Duc's tables).
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from math import floor, pi, sin

TIME_ZONE = 7.0  # hours east of UTC
_DR = pi / 180
_ORDINAL_TO_JDN = 1721425  # date(2000, 1, 1).toordinal() + this == JDN 2451545
_SYNODIC_MONTH = 29.530588853
_K0 = 2415021.076998695  # JD of the new moon k == 0 (1900-01-01)


def _jdn(d: date) -> int:
    return d.toordinal() + _ORDINAL_TO_JDN


def _new_moon(k: int) -> float:
    """Julian date (UT, fractional) of the k-th new moon after 1 January 1900."""
    t = k / 1236.85
    t2, t3 = t * t, t * t * t
    jd = 2415020.75933 + 29.53058868 * k + 0.0001178 * t2 - 0.000000155 * t3
    jd += 0.00033 * sin((166.56 + 132.87 * t - 0.009173 * t2) * _DR)
    m = (359.2242 + 29.10535608 * k - 0.0000333 * t2 - 0.00000347 * t3) * _DR  # sun anomaly
    mp = (306.0253 + 385.81691806 * k + 0.0107306 * t2 + 0.00001236 * t3) * _DR  # moon anomaly
    f = (21.2964 + 390.67050646 * k - 0.0016528 * t2 - 0.00000239 * t3) * _DR  # latitude arg.
    c1 = (
        (0.1734 - 0.000393 * t) * sin(m)
        + 0.0021 * sin(2 * m)
        - 0.4068 * sin(mp)
        + 0.0161 * sin(2 * mp)
        - 0.0004 * sin(3 * mp)
        + 0.0104 * sin(2 * f)
        - 0.0051 * sin(m + mp)
        - 0.0074 * sin(m - mp)
        + 0.0004 * sin(2 * f + m)
        - 0.0004 * sin(2 * f - m)
        - 0.0006 * sin(2 * f + mp)
        + 0.0010 * sin(2 * f - mp)
        + 0.0005 * sin(2 * mp + m)
    )
    if t < -11:
        delta_t = 0.001 + 0.000839 * t + 0.0002261 * t2 - 0.00000845 * t3 - 0.000000081 * t * t3
    else:
        delta_t = -0.000278 + 0.000265 * t + 0.000262 * t2
    return jd + c1 - delta_t


def _new_moon_day(k: int) -> int:
    """Julian day number of the local (UTC+7) day on which new moon k falls."""
    return floor(_new_moon(k) + 0.5 + TIME_ZONE / 24)


def _sun_sector(jdn: int) -> int:
    """Which 30-degree sector (0..11) the sun's longitude is in at local midnight of jdn."""
    t = (jdn - 0.5 - TIME_ZONE / 24 - 2451545.0) / 36525
    t2 = t * t
    m = (357.52910 + 35999.05030 * t - 0.0001559 * t2 - 0.00000048 * t * t2) * _DR
    l0 = 280.46645 + 36000.76983 * t + 0.0003032 * t2
    dl = (
        (1.914600 - 0.004817 * t - 0.000014 * t2) * sin(m)
        + (0.019993 - 0.000101 * t) * sin(2 * m)
        + 0.000290 * sin(3 * m)
    )
    longitude = ((l0 + dl) * _DR) % (2 * pi)
    return floor(longitude / pi * 6)


@lru_cache(maxsize=512)
def _month11(year: int) -> int:
    """JDN of the first day of the 11th lunar month (the one holding the winter solstice)."""
    k = floor((_jdn(date(year, 12, 31)) - 2415021) / _SYNODIC_MONTH)
    start = _new_moon_day(k)
    return _new_moon_day(k - 1) if _sun_sector(start) >= 9 else start


def _leap_offset(a11: int) -> int:
    """Offset (in months after month 11) of the leap month in a 13-month span from a11."""
    k = floor((a11 - _K0) / _SYNODIC_MONTH + 0.5)
    i, arc = 1, _sun_sector(_new_moon_day(k + 1))
    while True:
        last, i = arc, i + 1
        arc = _sun_sector(_new_moon_day(k + i))
        if arc == last or i >= 14:
            return i - 1


def _span(year: int, month: int) -> tuple[int, int]:
    """The 11th months (JDN) that open and close the lunar span containing (year, month)."""
    first = year - 1 if month < 11 else year
    return _month11(first), _month11(first + 1)


def leap_month(year: int) -> int | None:
    """Number of the leap (nhuận) month of lunar year `year`, or None."""
    for a11, b11, months in ((*_span(year, 1), range(1, 11)), (*_span(year, 11), (11, 12))):
        if b11 - a11 > 365 and (leap := (_leap_offset(a11) - 2) % 12) in months:
            return leap
    return None


def lunar_to_solar(year: int, month: int, day: int, leap: bool = False) -> date:
    """Gregorian date of lunar day/month/year in the Vietnamese (UTC+7) calendar.

    `leap=True` selects the leap (nhuận) copy of `month`; ValueError if that
    month is not leap in that year, or if the date does not exist.
    """
    if not (1800 <= year <= 2199 and 1 <= month <= 12 and 1 <= day <= 30):
        raise ValueError(f"lunar date out of range: {day}/{month}/{year}")
    a11, b11 = _span(year, month)
    k = floor(0.5 + (a11 - _K0) / _SYNODIC_MONTH)
    off = (month - 11) % 12
    if b11 - a11 > 365:
        leap_off = _leap_offset(a11)
        if leap and month != (leap_off - 2) % 12:
            raise ValueError(f"month {month} of lunar year {year} is not a leap month")
        if leap or off >= leap_off:
            off += 1
    elif leap:
        raise ValueError(f"lunar year {year} has no leap month {month}")
    start = _new_moon_day(k + off)
    if day > _new_moon_day(k + off + 1) - start:
        raise ValueError(f"lunar month {month}/{year} has fewer than {day} days")
    return date.fromordinal(start + day - 1 - _ORDINAL_TO_JDN)
