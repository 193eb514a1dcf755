"""The monthly report the provincial office files: the same figures as the API, as CSV and Excel."""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook
from openpyxl.styles import Font

from services.metrics.reports import RATES

GROUPS = ("CKMB", "TDGQ", "CLGQ", "TTTT", "MDSH", "MDHL")


def header() -> list[str]:
    rates = [f"{label} (%)" for _, _, label in RATES.values()]
    return ["Mã đơn vị", "Tên đơn vị", "Xếp hạng", "Hồ sơ tiếp nhận", "Điểm 766", *GROUPS, *rates]


def rows(report: dict) -> list[list]:
    out = []
    for r in [report["unit"], *report["children"]]:
        index = r["index"] or {"score": None, "groups": []}
        groups = {g["code"]: g["score"] for g in index["groups"]}
        rates = [round(v["ratio"] * 100, 2) if v["ratio"] is not None else None for v in r["rates"].values()]
        out.append(
            [
                r["key"],
                r["name"],
                r.get("rank"),
                r["received"],
                index["score"],
                *(groups.get(g) for g in GROUPS),
                *rates,
            ]
        )
    return out


def to_csv(report: dict) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header())
    writer.writerows(rows(report))
    return ("\ufeff" + buffer.getvalue()).encode()  # BOM: Excel opens UTF-8 Vietnamese correctly


def to_xlsx(report: dict, targets: list[dict], *, year: int | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "Chỉ số 766"
    sheet.append([f"Báo cáo chỉ số phục vụ người dân, doanh nghiệp — kỳ {report['period']['label']}"])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append(header())
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for line in rows(report):
        sheet.append(line)
    plan = book.create_sheet("Chỉ tiêu KH 617")
    plan.append(
        ["Chỉ tiêu", "Mục tiêu (%)", "Thực hiện (%)", "Tử số", "Mẫu số", "Đạt", "Đơn vị chưa đạt", "Nguồn", "Ghi chú"]
    )
    for t in targets:
        actual = round(t["actual"] * 100, 2) if t["actual"] is not None else None
        short = ", ".join(u["unit_code"] for u in t["units_short"])
        verdict = {True: "Đạt", False: "Chưa đạt", None: "—"}[t["met"]]
        notes = "; ".join(f"{a['source']}: {a['target'] * 100:g}% — {a['note']}" for a in t["alternatives"])
        plan.append(
            [
                t["label"],
                t["target"] * 100,
                actual,
                t["numerator"],
                t["denominator"],
                verdict,
                short,
                t["source"],
                notes or None,
            ]
        )
    if not targets:
        plan.append([f"Không có chỉ tiêu cho năm {year}" if year else "Không có chỉ tiêu cho kỳ này"])
    received_elsewhere(book, report)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def received_elsewhere(book: Workbook, report: dict) -> None:
    """Reception regardless of administrative boundaries and the postal public service, per unit."""
    sheet = book.create_sheet("Tiếp nhận ngoài địa bàn, BCCI")
    sheet.append(
        [
            "Mã đơn vị",
            "Tên đơn vị",
            "Hồ sơ tiếp nhận",
            "Tiếp nhận ngoài địa bàn",
            "Tỷ lệ (%)",
            "Tiếp nhận qua BCCI",
            "Tỷ lệ (%)",
            "Kết quả trả qua BCCI",
            "Tỷ lệ trên kết quả đã trả (%)",
        ]
    )
    for r in [report["unit"], *report["children"]]:
        rates = r["rates"]
        line = [r["key"], r["name"], r["received"]]
        for name in ("received_elsewhere_rate", "received_by_post_rate", "returned_by_post_rate"):
            ratio = rates[name]["ratio"]
            line += [rates[name]["numerator"], round(ratio * 100, 2) if ratio is not None else None]
        sheet.append(line)
