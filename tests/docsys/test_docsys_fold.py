"""Processing: the document system's result and status messages on the dossier and its control sheet."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from services.processing.catalog import load_seed
from services.processing.controlsheet import control_sheet
from services.processing.lifecycle import StoredEvent, fold
from services.processing.workcalendar import load_calendar

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CATALOG = load_seed()
CODE = "H44.100-260803-0001"


def ev(n: int, type_: str, day: int, **data) -> StoredEvent:
    return StoredEvent(f"e{n:08d}", type_, datetime(2026, 8, day, 9, tzinfo=VN), data)


def events(procedure: str) -> list[StoredEvent]:
    return [
        ev(1, "dossier.received", 3, unit_code="H44.100", procedure_code=procedure, channel=1),
        ev(2, "dossier.processed", 4),
        ev(3, "dossier.document_status", 4, document_id=CODE, status="received", organ_id="H44.100", note="Đã nhận"),
        ev(4, "dossier.document_status", 5, document_id=CODE, status="returned", organ_id="H44.100",
           note="Trả lại để chỉnh sửa"),
        ev(5, "dossier.result_recorded", 6, result_code="7/QĐ-UBND", electronic=True, digitized=True,
           document_number="7", document_symbol="QĐ-UBND", promulgated_at="2026-08-06T00:00:00+00:00",
           signer="Lê Quang Vinh"),
        ev(6, "dossier.result_returned", 7),
    ]


def test_the_issued_document_is_the_dossiers_electronic_result():
    state = fold(CODE, events("1.004227"), procedure=CATALOG.get, calendar=load_calendar())
    assert state.result_is_document and state.document_number == "7/QĐ-UBND" and state.electronic_result
    assert state.status == 10 and not state.anomalies
    plain = fold(CODE, events("1.001193"), procedure=CATALOG.get, calendar=load_calendar())
    assert not plain.result_is_document


def test_status_messages_appear_on_the_control_sheet_in_time_order():
    rows = [r for r in control_sheet(events("1.004227")) if r.get("kind") == "document_status"]
    assert [(r["status"], r["note"]) for r in rows] == [("received", "Đã nhận"), ("returned", "Trả lại để chỉnh sửa")]
