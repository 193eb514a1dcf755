"""Hand-worked dossiers through the fold: statuses, due dates and the portal's on-time rule."""

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from services.processing.catalog import load_seed
from services.processing.lifecycle import StoredEvent, fold
from services.processing.workcalendar import load_calendar
from shared.event_types import Status

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CALENDAR = load_calendar()
CATALOG = load_seed()
CODE = "H44.100-260810-0001"
_ids = itertools.count()


def at(day: str, clock: str = "09:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}:00").replace(tzinfo=VN)


def ev(type: str, when: datetime, **data) -> StoredEvent:
    return StoredEvent(f"e{next(_ids):04d}", type, when, data)


def received(when: datetime, procedure: str = "1.000894", channel: int = 1) -> StoredEvent:
    # 1.000894 Đăng ký kết hôn: 5 working days in the seed catalog.
    return ev("dossier.received", when, unit_code="H44.100", procedure_code=procedure, channel=channel)


def state(*events: StoredEvent):
    return fold(CODE, events, procedure=CATALOG.get, calendar=CALENDAR)


def test_due_date_counts_working_days_after_reception():
    # Mon 10/8/2026 + 5 working days -> Mon 17/8/2026 at close of office.
    s = state(received(at("2026-08-10")))
    assert s.due_at == at("2026-08-17", "17:00")
    assert s.status == Status.ACCEPTED and s.on_time is None
    assert s.deadline_at == s.due_at


def test_processed_before_due_is_on_time_and_processed_time_wins_over_returned():
    s = state(
        received(at("2026-08-10")),
        ev("dossier.processed", at("2026-08-17", "16:59")),
        ev("dossier.result_returned", at("2026-08-20")),  # returned late, but processed in time
    )
    assert s.status == Status.RETURNED
    assert s.end_at == at("2026-08-17", "16:59")
    assert s.on_time is True


def test_processed_after_due_is_late():
    s = state(received(at("2026-08-10")), ev("dossier.processed", at("2026-08-17", "17:01")))
    assert s.on_time is False and s.status == Status.PROCESSED


def test_returned_without_processed_ends_the_clock():
    s = state(received(at("2026-08-10")), ev("dossier.result_returned", at("2026-08-12")))
    assert s.end_at == at("2026-08-12") and s.on_time is True


def test_dossier_spanning_tet_2026():
    # Thu 12/2/2026, 5 working days: Fri 13/2 is 1, Tết off 14-22/2, then 23,24,25,26/2 -> Thu 26/2.
    s = state(received(at("2026-02-12")), ev("dossier.processed", at("2026-02-26", "16:00")))
    assert s.due_at == at("2026-02-26", "17:00")
    assert s.on_time is True


def test_supplementation_stops_the_clock():
    # Due Mon 17/8 17:00; waiting for the citizen 11/8 09:00 -> 14/8 09:00 (3 days) moves it to 20/8 17:00.
    s = state(
        received(at("2026-08-10")),
        ev("dossier.supplement_requested", at("2026-08-11"), reason="Thiếu bản sao CCCD"),
        ev("dossier.supplement_supplied", at("2026-08-14")),
        ev("dossier.processed", at("2026-08-20", "16:00")),
    )
    assert s.paused_seconds == 3 * 86400
    assert s.on_time is True


def test_two_supplementation_requests_make_the_dossier_overdue():
    s = state(
        received(at("2026-08-10")),
        ev("dossier.supplement_requested", at("2026-08-10", "10:00"), reason="Thiếu giấy tờ"),
        ev("dossier.supplement_supplied", at("2026-08-10", "11:00")),
        ev("dossier.supplement_requested", at("2026-08-10", "14:00"), reason="Thiếu chữ ký"),
        ev("dossier.supplement_supplied", at("2026-08-10", "15:00")),
        ev("dossier.processed", at("2026-08-11")),  # fast, yet overdue by rule
    )
    assert s.supplement_requests == 2 and s.on_time is False


def test_waiting_for_the_citizen_is_judged_at_the_request_time():
    s = state(received(at("2026-08-10")), ev("dossier.supplement_requested", at("2026-08-11"), reason="x"))
    assert s.status == Status.SUPPLEMENT_REQUESTED
    assert s.on_time is True  # requested before the due date, whatever happens later


def test_refusal_ends_the_clock():
    s = state(received(at("2026-08-10")), ev("dossier.refused", at("2026-08-10", "10:00"), reason="Sai thẩm quyền"))
    assert s.status == Status.REFUSED and s.on_time is True


def test_extension_sets_a_new_due_date():
    s = state(
        received(at("2026-08-10")),
        ev("dossier.extended", at("2026-08-14"), new_due_at=at("2026-08-24", "17:00").isoformat(), reason="Xin lỗi"),
        ev("dossier.processed", at("2026-08-21")),
    )
    assert s.due_at == at("2026-08-24", "17:00") and s.on_time is True


def test_digitization_and_payment_facts():
    s = state(
        received(at("2026-08-10"), procedure="1.001612", channel=2),  # has a fee
        ev("dossier.component_recorded", at("2026-08-10"), component_code="TP1", digitized=True, reused=True,
           from_population_data=True, from_personal_data_store=False),
        ev("dossier.component_recorded", at("2026-08-10"), component_code="TP2", digitized=False, reused=False,
           from_population_data=False, from_personal_data_store=True),
        ev("dossier.fee_paid", at("2026-08-10", "10:00"), amount=100000, method=1),
        ev("dossier.result_recorded", at("2026-08-11"), result_code="KQ", electronic=True, digitized=True),
    )
    assert (s.components, s.components_digitized, s.components_reused) == (2, 1, 1)
    assert s.uses_population_data and s.uses_personal_data_store
    assert s.has_fee and s.paid_online and s.electronic_result and s.result_digitized
    assert s.channel == 2 and s.status == Status.PROCESSING


def test_events_before_the_opening_event_wait_for_it():
    processed = ev("dossier.processed", at("2026-08-11"))
    assert state(processed) is None
    assert state(processed, received(at("2026-08-10"))).on_time is True


def test_order_and_duplicates_do_not_change_the_state():
    events = [
        received(at("2026-08-10")),
        ev("dossier.transferred", at("2026-08-10", "10:00"), from_unit="H44.100", to_unit="H44.07"),
        ev("dossier.supplement_requested", at("2026-08-11"), reason="x"),
        ev("dossier.supplement_supplied", at("2026-08-13")),
        ev("dossier.processed", at("2026-08-18")),
        ev("dossier.result_returned", at("2026-08-19")),
    ]
    clean = state(*events)
    for permutation in [events[::-1], events[2:] + events[:2], events[1::2] + events[::2]]:
        assert state(*permutation) == clean
    # A duplicate is the same stored event (same id): the store keeps one, so the fold sees one.
    assert clean.on_time is True and clean.status == Status.RETURNED


@pytest.mark.parametrize("clock,on_time", [("16:59", True), ("17:00", True), ("17:01", False)])
def test_on_time_boundary_is_inclusive(clock, on_time):
    s = state(received(at("2026-08-10")), ev("dossier.processed", at("2026-08-17", clock)))
    assert s.on_time is on_time


def test_unknown_procedure_gives_no_due_date():
    s = fold(CODE, [received(at("2026-08-10"), procedure="9.999999")], procedure=lambda c: None, calendar=CALENDAR)
    assert s.due_at is None and s.deadline_at is None and s.on_time is None

