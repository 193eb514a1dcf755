"""Import the province's procedure list (danh mục TTHC) from a file, showing what changed.

    python -m services.processing.catalog_import FILE.csv|FILE.xlsx [--dry-run] [--effective-from 2026-09-01]
    (or POST /v1/procedures/import with the file, operator token)

The file has one procedure per row, with the columns of the national TTHC database's export
(Vietnamese headers; the English keys below are accepted too). A changed time limit keeps the old
one as a former limit until the effective date (default: today), so dossiers received before it
are still judged by it. A procedure missing from the file is reported, never deleted: dossiers may
name it. A file with any invalid row changes nothing; the answer names each row and field.
After a change, the dossiers held for codes the catalog now knows are judged (pending.py).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
import unicodedata
from datetime import date, datetime
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.processing.catalog import VN, FormerLimit, Procedure

# key -> headers accepted (the national export's Vietnamese header first).
COLUMNS = {
    "code": ("Mã thủ tục", "Mã TTHC", "code"),
    "name": ("Tên thủ tục", "Tên TTHC", "name"),
    "field_code": ("Mã lĩnh vực", "field_code"),
    "field": ("Tên lĩnh vực", "Lĩnh vực", "field"),
    "level": ("Cấp thực hiện", "level"),
    "limit_amount": ("Thời hạn giải quyết", "limit_amount"),
    "limit_unit": ("Đơn vị thời hạn", "limit_unit"),
    "fee": ("Phí, lệ phí (đồng)", "Phí, lệ phí", "fee"),
    "online": ("Mức độ DVC trực tuyến", "Mức độ DVC", "online"),
    "paper_result": ("Kết quả là bản giấy", "paper_result"),
    "applicants": ("Đối tượng thực hiện", "applicants"),
    "full_online_eligible": ("Đủ điều kiện DVC trực tuyến toàn trình", "full_online_eligible"),
}
REQUIRED = ("code", "name", "field", "level", "limit_amount", "limit_unit", "online")
LEVELS = {
    "cấp tỉnh": "PROVINCE",
    "tỉnh": "PROVINCE",
    "province": "PROVINCE",
    "cấp xã": "COMMUNE",
    "xã": "COMMUNE",
    "commune": "COMMUNE",
}
UNITS = {
    "ngày làm việc": "working_days",
    "working_days": "working_days",
    "ngày": "calendar_days",
    "calendar_days": "calendar_days",
    "giờ": "hours",
    "giờ làm việc": "hours",
    "hours": "hours",
    "tháng": "months",
    "months": "months",
}
ONLINE = {
    "toàn trình": "full",
    "full": "full",
    "một phần": "partial",
    "partial": "partial",
    "không": "none",
    "": "none",
    "none": "none",
}
YES = {
    "có": True,
    "x": True,
    "1": True,
    "true": True,
    "yes": True,
    "không": False,
    "": False,
    "0": False,
    "false": False,
    "no": False,
}
# Facts the national list does not carry: kept from the catalog's current entry.
KEPT = ("result_is_document", "online_payment", "fee_data_synced", "population_data_connected", "former_limits")


class CatalogFileError(ValueError):
    def __init__(self, errors: list[dict]):
        super().__init__(f"{len(errors)} invalid value(s)")
        self.errors = errors


def _norm(text: object) -> str:
    if isinstance(text, float) and text.is_integer():
        text = int(text)  # a spreadsheet's 100000.0 is 100000 VND, not "100000.0" (read as 1,000,000)
    return unicodedata.normalize("NFC", str(text if text is not None else "")).strip()


def read_rows(content: bytes, filename: str) -> list[dict[str, str]]:
    """The file's rows as header -> text (CSV in UTF-8, with or without BOM, or the first xlsx sheet).

    A file that is not what its format says (not a workbook, not UTF-8, no sheet, no header) is
    the sender's error: answered as such, never as a server error."""
    try:
        return _read_rows(content, filename)
    except CatalogFileError:
        raise
    except Exception as exc:  # openpyxl and csv raise many kinds (BadZipFile, KeyError, IndexError...)
        message = f"not a readable {filename.rsplit('.', 1)[-1]} file ({type(exc).__name__})"
        raise CatalogFileError([{"row": None, "field": "file", "message": message}]) from exc


def _read_rows(content: bytes, filename: str) -> list[dict[str, str]]:
    if filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).worksheets[0]
        rows = [[_norm(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        header, body = rows[0], rows[1:]
        return [dict(zip(header, r, strict=False)) for r in body if any(r)]  # trailing empty cells may be cut
    if filename.lower().endswith(".csv"):
        reader = csv.DictReader(io.StringIO(content.decode("utf-8-sig")))
        return [{_norm(k): _norm(v) for k, v in r.items()} for r in reader]
    raise CatalogFileError([{"row": None, "field": "file", "message": "must be a .csv or .xlsx file"}])


def _column(headers: list[str]) -> dict[str, str]:
    by_lower = {h.lower(): h for h in headers}
    found = {
        key: next((by_lower[n.lower()] for n in names if n.lower() in by_lower), None) for key, names in COLUMNS.items()
    }
    missing = [COLUMNS[k][0] for k in REQUIRED if found[k] is None]
    if missing:
        raise CatalogFileError([{"row": None, "field": m, "message": "column missing"} for m in missing])
    return {k: v for k, v in found.items() if v is not None}


def _lookup(table: dict, value: str, key: str, row: int, errors: list[dict]):
    if value.lower() in table:
        return table[value.lower()]
    errors.append({"row": row, "field": key, "message": f"unknown value {value[:40]!r}"})
    return None


def parse(rows: list[dict[str, str]], current: dict[str, Procedure]) -> list[Procedure]:
    """Validated procedures from the rows (row numbers count the header as row 1)."""
    if not rows:
        raise CatalogFileError([{"row": None, "field": "file", "message": "no procedures in the file"}])
    col = _column(list(rows[0]))
    errors: list[dict] = []
    out: dict[str, Procedure] = {}
    for n, raw in enumerate(rows, start=2):
        v = {k: raw.get(h, "") for k, h in col.items()}
        row_errors: list[dict] = []
        try:
            amount = int(float(v["limit_amount"].replace(",", ".")))
        except ValueError:
            row_errors.append({"row": n, "field": "limit_amount", "message": "must be a whole number"})
            amount = 0
        try:
            fee = int(v.get("fee", "0").replace(".", "").replace(",", "") or 0)
        except ValueError:
            row_errors.append({"row": n, "field": "fee", "message": "must be an amount in VND"})
            fee = 0
        fields = {
            "code": v["code"],
            "name": v["name"],
            "field": v["field"],
            "field_code": v.get("field_code") or None,
            "level": _lookup(LEVELS, v["level"], "level", n, row_errors),
            "limit": {"amount": amount, "unit": _lookup(UNITS, v["limit_unit"], "limit_unit", n, row_errors)},
            "online": _lookup(ONLINE, v["online"], "online", n, row_errors),
            "fee": fee,
            "paper_result": _lookup(YES, v.get("paper_result", ""), "paper_result", n, row_errors),
            "applicants": v.get("applicants") or None,
            "full_online_eligible": _lookup(
                YES, v.get("full_online_eligible", ""), "full_online_eligible", n, row_errors
            ),
        }
        if v["code"] in out:
            row_errors.append({"row": n, "field": "code", "message": f"{v['code'][:20]} appears twice"})
        if not row_errors:
            before = current.get(v["code"])
            kept = {k: getattr(before, k) for k in KEPT} if before else {}
            try:
                out[v["code"]] = Procedure.model_validate({**kept, **fields})
            except ValidationError as exc:
                row_errors += [
                    {"row": n, "field": ".".join(map(str, e["loc"])), "message": e["msg"]}
                    for e in exc.errors(include_input=False)
                ]
        errors += row_errors
    if errors:
        raise CatalogFileError(errors)
    return list(out.values())


def changes(imported: list[Procedure], current: dict[str, Procedure], effective_from: date) -> dict:
    """What the import changes; the procedures to write carry the former limits."""
    added, changed, to_write = [], [], []
    for p in imported:
        before = current.get(p.code)
        if before is None:
            added.append(p.code)
            to_write.append(p)
            continue
        diff = {
            k: [getattr(before, k), getattr(p, k)]
            for k in Procedure.model_fields
            if k != "former_limits" and getattr(before, k) != getattr(p, k)
        }
        if not diff:
            continue
        if "limit" in diff:
            p = p.model_copy(
                update={
                    "former_limits": [
                        *[f for f in before.former_limits if f.until < effective_from],
                        FormerLimit(amount=before.limit.amount, unit=before.limit.unit, until=effective_from),
                    ]
                }
            )
        to_write.append(p)
        changed.append({"code": p.code, "changes": {k: [_plain(a), _plain(b)] for k, (a, b) in diff.items()}})
    seen = {p.code for p in imported}
    return {
        "added": sorted(added),
        "changed": changed,
        "unchanged": len(imported) - len(added) - len(changed),
        "not_in_file": sorted(c for c in current if c not in seen),
        "effective_from": effective_from.isoformat(),
        "write": to_write,
    }


def _plain(value):
    return value.model_dump() if hasattr(value, "model_dump") else value


async def import_catalog(
    session: AsyncSession,
    content: bytes,
    filename: str,
    *,
    dry_run: bool = False,
    effective_from: date | None = None,
    folding=None,
) -> dict:
    """Parse, compare and (unless dry_run) write; then judge the dossiers held for new codes."""
    from services.processing.api import upsert_procedures
    from services.processing.models import ProcedureRow
    from services.processing.pending import learn_known

    rows = (await session.execute(select(ProcedureRow.definition))).scalars()
    current = {d["code"]: Procedure.model_validate(d) for d in rows}
    report = changes(parse(read_rows(content, filename), current), current, effective_from or datetime.now(VN).date())
    to_write = report.pop("write")
    report["dry_run"] = dry_run
    report["released"] = {}
    if not dry_run and to_write:
        for start in range(0, len(to_write), 500):
            await session.execute(upsert_procedures(to_write[start : start + 500], replace=True))
        if folding is not None:
            report["released"] = await learn_known(session, folding)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path)
    parser.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    parser.add_argument("--effective-from", type=date.fromisoformat, help="when changed time limits apply")
    args = parser.parse_args(argv)
    try:
        report = asyncio.run(_run(args))
    except CatalogFileError as exc:
        print(json.dumps({"errors": exc.errors}, ensure_ascii=False, indent=1), file=sys.stderr)
        return 2
    print(json.dumps(report, ensure_ascii=False, indent=1, default=str))
    return 0


async def _run(args: argparse.Namespace) -> dict:
    from services.processing.catalog import CatalogCache
    from services.processing.config import ProcessingSettings
    from services.processing.models import Base
    from services.processing.pending import Folding
    from services.processing.workcalendar import load_calendar
    from services.processing.working import FoldRules
    from shared.db import create_schema, make_engine, make_sessionmaker
    from shared.tables import PLUMBING
    from shared.topics import Topics

    settings = ProcessingSettings()
    engine = make_engine(settings.database_url, settings.db_schema, pool_size=1)
    folding = Folding(
        load_calendar(settings.holidays_path, cutoff=settings.cutoff),
        CatalogCache(),
        Topics(settings.topic_prefix),
        FoldRules(settings.extension_moves_due_date),
    )
    try:
        await create_schema(engine, settings.db_schema, PLUMBING, Base.metadata)
        async with make_sessionmaker(engine)() as session, session.begin():
            return await import_catalog(
                session,
                args.file.read_bytes(),
                args.file.name,
                dry_run=args.dry_run,
                effective_from=args.effective_from,
                folding=folding,
            )
    finally:
        await engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
