"""Processing: the document system's result and status messages on the dossier and its control sheet,
and a recall agreed (status 15) that withdraws the document."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.intake.apikeys import Caller
from services.intake.handlers import validate
from services.processing.catalog import load_seed
from services.processing.controlsheet import control_sheet
from services.processing.lifecycle import fold
from services.processing.stored import StoredEvent, stored_event
from services.processing.workcalendar import load_calendar
from shared.event_types import DOCUMENT_STATUS_NAMES, DocumentStatusV2
from shared.events import EventError
from shared.units import load_units

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CATALOG = load_seed()
CODE = "H44.100-260803-0001"
REQUEST = "000.00.00.H44,2026/08/04,H44.100-260803-0001/PTr-HCC"
FIRST, SECOND = "000.00.30.H44,2026/08/06,7/QĐ-UBND", "000.00.30.H44,2026/08/10,9/QĐ-UBND"


def ev(n: int, type_: str, day: int, **data) -> StoredEvent:
    return stored_event(f"e{n:08d}", type_, datetime(2026, 8, day, 9, tzinfo=VN), data)


def status(n: int, day: int, code: str, about: str = REQUEST, note: str = "") -> StoredEvent:
    data = DocumentStatusV2(document_id=about, status_code=code, organ_id="H44.100", note=note or None)
    return ev(n, "dossier.document_status", day, **data.model_dump(mode="json"))


def issued(n: int, day: int, number: str, document_id: str) -> StoredEvent:
    return ev(
        n,
        "dossier.result_recorded",
        day,
        result_code=f"{number}/QĐ-UBND",
        electronic=True,
        digitized=True,
        document_number=number,
        document_symbol="QĐ-UBND",
        promulgated_at=f"2026-08-{day:02d}T00:00:00+07:00",
        signer="Lê Quang Vinh",
        document_id=document_id,
    )


def events(procedure: str = "1.004227") -> list[StoredEvent]:
    return [
        ev(1, "dossier.received", 3, unit_code="H44.100", procedure_code=procedure, channel=1),
        ev(2, "dossier.processed", 4),
        status(3, 4, "01", note="Đã đến"),
        status(4, 5, "02", note="Trả lại để chỉnh sửa"),
        issued(5, 6, "7", FIRST),
        ev(6, "dossier.result_returned", 7),
    ]


def fold_(evs: list[StoredEvent]):
    return fold(CODE, evs, procedure=CATALOG.get, calendar=load_calendar())


def test_the_issued_document_is_the_dossiers_electronic_result():
    state = fold_(events())
    assert state.result_is_document and state.document_number == "7/QĐ-UBND" and state.electronic_result
    assert state.status == 10 and not state.anomalies
    assert not fold_(events("1.001193")).result_is_document


def test_status_messages_appear_on_the_control_sheet_in_time_order_with_their_names():
    rows = [r for r in control_sheet(events()) if r.get("kind") == "document_status"]
    assert [(r["status"], r["status_name"], r["note"]) for r in rows] == [
        ("01", "Đã đến", "Đã đến"),
        ("02", "Từ chối tiếp nhận", "Trả lại để chỉnh sửa"),
    ]


@pytest.mark.parametrize("code", sorted(set(DOCUMENT_STATUS_NAMES) - {"15"}))
def test_every_other_status_code_leaves_the_state_and_its_revision_alone(code):
    before = fold_(events())
    after = fold_([*events(), status(7, 8, code, about=FIRST)])
    assert after == before


def test_a_recall_agreed_withdraws_the_document_and_a_new_one_can_follow():
    recalled = [*events(), status(7, 8, "13", about=FIRST), status(8, 8, "15", about=FIRST)]
    state = fold_(recalled)
    assert state.document_number is None and not state.electronic_result and "7/QĐ-UBND" not in state.results
    assert state.revision == fold_(events()).revision + 1 and not state.anomalies
    sheet = [r for r in control_sheet(recalled) if r.get("kind") == "document_status"]
    assert [(r["status"], r["recall"]) for r in sheet][-2:] == [("13", False), ("15", True)]
    again = fold_([*recalled, issued(9, 10, "9", SECOND)])
    assert again.document_number == "9/QĐ-UBND" and again.electronic_result and again.results == ["9/QĐ-UBND"]


def test_a_recall_of_another_document_or_a_refused_one_changes_nothing():
    before = fold_(events())
    assert fold_([*events(), status(7, 8, "15", about=SECOND)]).document_number == "7/QĐ-UBND"
    assert fold_([*events(), status(7, 8, "16", about=FIRST)]) == before


def test_version_1_statuses_are_still_read_and_change_nothing():
    old = ev(7, "dossier.document_status", 8, document_id=CODE, status="returned", organ_id="H44.100", note="x")
    assert fold_([*events(), old]) == fold_(events())
    assert control_sheet([old])[0]["status"] == "returned"


def test_counters_cannot_post_document_statuses():
    """A recall agreed withdraws a result: only the connector says so, never a counter system."""
    event = {
        "id": "evt-recall-0001",
        "type": "dossier.document_status",
        "version": 2,
        "source": "motcua",
        "subject": CODE,
        "time": "2026-08-08T09:00:00+07:00",
        "data": status(7, 8, "15", about=FIRST).data,
    }
    with pytest.raises(EventError, match="not posted by counters"):
        validate(
            event,
            caller=Caller("motcua", ("H44",)),
            units=load_units(),
            now=datetime.now(VN),
            max_skew=timedelta(minutes=5),
            applicant_key=b"k" * 32,
        )
