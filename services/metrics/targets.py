"""Plan 617's 2025 targets (docs/domain.md §7) beside the actual values, with the units short of them."""

from __future__ import annotations

# rate name (see reports.RATES) -> (target ratio, Vietnamese label of the target)
TARGETS = {
    "full_online_procedures_rate": (0.80, "DVC trực tuyến toàn trình trên thủ tục đủ điều kiện ≥ 80%"),
    "online_payment_rate": (0.60, "Thanh toán trực tuyến ≥ 60%"),
    "online_rate": (0.60, "Hồ sơ trực tuyến ≥ 60%"),
    "digitization_rate": (0.80, "Số hóa hồ sơ, kết quả ≥ 80%"),
    "sync_rate": (1.00, "Đồng bộ kết quả lên Cổng DVC quốc gia 100%"),
    "electronic_result_rate": (1.00, "Cấp kết quả điện tử 100%"),
    "document_result_rate": (1.00, "Kết nối hệ thống QLVB: kết quả đồng bộ 100%"),
    "reuse_rate": (0.50, "Tái sử dụng dữ liệu số hóa ≥ 50%"),
    "pakn_on_time_rate": (1.00, "Xử lý PAKN đúng hạn 100%"),
    "satisfaction_rate": (0.90, "Mức độ hài lòng ≥ 90%"),
}


def met(name: str, rate: dict, target: float) -> bool | None:
    """None when there is nothing to judge, except that a PAKN target with no PAKN is met."""
    if rate["ratio"] is None:
        return True if name == "pakn_on_time_rate" else None
    return rate["ratio"] >= target


def targets_report(report: dict) -> list[dict]:
    """For each target: the unit's actual value, whether it is met, and the child units short of it."""
    out = []
    for name, (target, label) in TARGETS.items():
        actual = report["unit"]["rates"][name]
        short = [
            {"unit_code": c["key"], "name": c["name"], "ratio": c["rates"][name]["ratio"]}
            for c in report["children"]
            if c["received"] and met(name, c["rates"][name], target) is False
        ]
        out.append({"rate": name, "label": label, "target": target, "actual": actual["ratio"],
                    "numerator": actual["numerator"], "denominator": actual["denominator"],
                    "met": met(name, actual, target), "units_short": sorted(short, key=lambda u: u["ratio"])})
    return out
