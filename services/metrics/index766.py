"""The Quyết định 766 index as the portal computes it (docs/domain.md §6): six groups, 100 points.

Each component has a numerator, a denominator, a ratio and a score with two decimals
(half up, on the exact fraction). Components that are catalog-publication facts this system
does not hold are listed with `tracked: false` and no score; how the online-service group's 12
points split among its components is not public, so it is a setting and marked provisional.
docs/indicators.md states each formula and its source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import cache

from services.metrics.aggregates import Counts

CENT = Decimal("0.01")


def points(value: Fraction) -> float:
    """Two decimals, half up, from the exact fraction (no binary floating-point drift)."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return float(exact.quantize(CENT, rounding=ROUND_HALF_UP))


def linear(weight: int) -> Callable[[Fraction | None], Fraction]:
    return lambda r: weight * r if r is not None else Fraction(0)


def full_at(weight: float, threshold: float) -> Callable[[Fraction | None], Fraction]:
    """Full points once the ratio reaches `threshold` (e.g. reuse: full at 80%)."""
    # From the decimal text: Fraction(0.8) would be the binary float's value, 0.8000000000000000444.
    w, t = Fraction(str(weight)), Fraction(str(threshold))
    return lambda r: min(w, w * r / t) if r is not None else Fraction(0)


def full_when_none(weight: int) -> Callable[[Fraction | None], Fraction]:
    """PAKN components: full points when there was no PAKN at all."""
    return lambda r: weight * r if r is not None else Fraction(weight)


@dataclass(frozen=True)
class Component:
    code: str
    name: str  # Vietnamese, as the dashboard shows it
    max: float
    numerator: str | None  # a Counts name; None: not tracked by this system
    denominator: str | None
    score: Callable[[Fraction | None], Fraction] | None
    provisional: bool = False


def _online_service(weights: tuple[float, float, float]) -> list[Component]:
    """The formula document's 3.1-3.3 (docs/indicators.md); how the 12 points split is not public:
    a setting (METRICS_ONLINE_SERVICE_WEIGHTS), so every component is marked provisional."""
    w1, w2, w3 = (Fraction(w).limit_denominator(100) for w in weights)
    return [
        Component(
            "CLGQ.3.1",
            "Thủ tục cung cấp DVC trực tuyến (tạm tính)",
            float(w1),
            "catalog_online",
            "catalog_procedures",
            full_at(w1, 0.8),
            provisional=True,
        ),
        Component(
            "CLGQ.3.2",
            "DVC trực tuyến phát sinh hồ sơ (tạm tính)",
            float(w2),
            "online_services_used",
            "catalog_online",
            linear(w2),
            provisional=True,
        ),
        Component(
            "CLGQ.3.3",
            "Hồ sơ trực tuyến × tỷ lệ đồng bộ (tạm tính)",
            float(w3),
            "online_synced",
            "received",
            full_at(w3, 0.5),
            provisional=True,
        ),
    ]


DEFAULT_WEIGHTS = (4.0, 4.0, 4.0)


@cache  # the same components for every unit and period of a report
def groups(weights: tuple[float, float, float] = DEFAULT_WEIGHTS) -> list[tuple[str, str, float, list[Component]]]:
    return [
        (
            "CKMB",
            "Công khai, minh bạch",
            18,
            [
                Component("CKMB.sync", "Hồ sơ đồng bộ lên Cổng DVC quốc gia", 6, "synced", "received", linear(6)),
                Component("CKMB.published", "Công bố thủ tục đúng hạn", 6, None, None, None),
                Component("CKMB.updated", "Cập nhật thủ tục đúng hạn", 4, None, None, None),
                Component("CKMB.complete", "Công khai đầy đủ thủ tục", 2, None, None, None),
            ],
        ),
        (
            "TDGQ",
            "Tiến độ giải quyết",
            20,
            [
                Component("TDGQ", "Hồ sơ giải quyết đúng hạn", 20, "on_time", "received", linear(20)),
            ],
        ),
        ("CLGQ", "Dịch vụ trực tuyến", 12, _online_service(weights)),
        (
            "TTTT",
            "Thanh toán trực tuyến",
            10,
            [
                # 3.6: methods 1 and 2 both count; dossiers that owed nothing are not in the denominator.
                Component("TTTT.A", "Hồ sơ thanh toán trực tuyến", 6, "paid_online", "fee_owed", linear(6)),
                # 3.5: fee-bearing procedures whose dossiers synced their fee data, full at 80%.
                Component(
                    "TTTT.B",
                    "Thủ tục đồng bộ dữ liệu phí",
                    2,
                    "procedures_fee_synced",
                    "procedures_with_fee",
                    full_at(2, 0.8),
                ),
                Component(
                    "TTTT.C",
                    "Thủ tục có thanh toán trực tuyến",
                    2.5,
                    "procedures_online_payment",
                    "procedures_with_fee",
                    linear(Fraction(5, 2)),
                    provisional=True,
                ),
            ],
        ),
        (
            "MDSH",
            "Mức độ số hóa",
            22,
            [
                Component("MDSH.eresult", "Cấp kết quả điện tử", 6, "electronic_result", "received", linear(6)),
                Component("MDSH.digitized", "Số hóa hồ sơ, kết quả", 4, "digitized", "received", linear(4)),
                Component("MDSH.reuse", "Tái sử dụng dữ liệu số hóa", 2, "reused", "received", full_at(2, 0.8)),
                Component(
                    "MDSH.personal", "Liên thông kho dữ liệu cá nhân", 4, "personal_store", "received", linear(4)
                ),
                Component("MDSH.population", "Sử dụng dữ liệu dân cư", 2, "population_data", "received", linear(2)),
                Component(
                    "MDSH.proc_population",
                    "Thủ tục kết nối dữ liệu dân cư",
                    2,
                    "procedures_population",
                    "procedures",
                    linear(2),
                ),
                Component("MDSH.certified_copy", "Dịch vụ chứng thực bản sao điện tử", 2, None, None, None),
            ],
        ),
        (
            "MDHL",
            "Mức độ hài lòng",
            18,
            [
                Component(
                    "MDHL.service", "Hài lòng về tiếp nhận, giải quyết", 6, "satisfied", "received", full_at(6, 0.9)
                ),
                Component(
                    "MDHL.pakn_on_time", "PAKN xử lý đúng hạn", 6, "feedback_on_time", "feedback", full_when_none(6)
                ),
                Component(
                    "MDHL.pakn_satisfied",
                    "Hài lòng về xử lý PAKN",
                    6,
                    "feedback_satisfied",
                    "feedback",
                    full_when_none(6),
                ),
            ],
        ),
    ]


def component_result(c: Component, counts: Counts) -> dict:
    if c.numerator is None:
        return {
            "code": c.code,
            "name": c.name,
            "max": c.max,
            "tracked": False,
            "numerator": None,
            "denominator": None,
            "ratio": None,
            "score": None,
            "provisional": c.provisional,
        }
    if c.numerator == "online_synced":  # 3.3: online share × sync share
        received = counts["received"]
        ratio = Fraction(counts["online_counted"] * counts["synced"], received * received) if received else None
        numerator, denominator = counts["online_counted"], received
    elif c.denominator in ("catalog_procedures", "catalog_online") and c.denominator not in counts.extra:
        # No catalog to count against (processing unreachable): shown, not scored.
        return {
            "code": c.code,
            "name": c.name,
            "max": c.max,
            "tracked": False,
            "numerator": None,
            "denominator": None,
            "ratio": None,
            "score": None,
            "provisional": c.provisional,
        }
    else:
        numerator, denominator = counts[c.numerator], counts[c.denominator]
        ratio = Fraction(numerator, denominator) if denominator else None
    return {
        "code": c.code,
        "name": c.name,
        "max": c.max,
        "tracked": True,
        "numerator": numerator,
        "denominator": denominator,
        "ratio": round(float(ratio), 4) if ratio is not None else None,
        "score": points(c.score(ratio)),
        "provisional": c.provisional,
    }


def index766(counts: Counts, *, weights: tuple[float, float, float] = DEFAULT_WEIGHTS) -> dict:
    """The whole index for one unit and period."""
    out, total, available = [], 0.0, 0.0
    for code, name, maximum, components in groups(weights):
        results = [component_result(c, counts) for c in components]
        tracked = [r for r in results if r["tracked"]]
        score = round(min(maximum, sum(r["score"] for r in tracked)), 2)
        reachable = min(maximum, sum(r["max"] for r in tracked))
        out.append(
            {
                "code": code,
                "name": name,
                "max": maximum,
                "max_available": reachable,
                "score": score,
                "provisional": any(r["provisional"] for r in results),
                "components": results,
            }
        )
        total += score
        available += reachable
    return {"score": round(total, 2), "max": 100, "max_available": round(available, 2), "groups": out}
