"""Hand-worked dossiers through the fold: statuses, due dates and the portal's on-time rule."""

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from services.processing.catalog import load_seed
from services.processing.lifecycle import fold
from services.processing.stored import StoredEvent, stored_event
from services.processing.workcalendar import load_calendar
from services.processing.working import FoldRules
from shared.event_types import Status

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CALENDAR = load_calendar()
CATALOG = load_seed()
CODE = "H44.100-260810-0001"
_ids = itertools.count()


def at(day: str, clock: str = "09:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}:00").replace(tzinfo=VN)


def ev(type: str, when: datetime, **data) -> StoredEvent:
    return stored_event(f"e{next(_ids):04d}", type, when, data)


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


def test_extension_gives_a_new_appointment_but_does_not_erase_lateness():
    # Due Mon 17/8 17:00. The apology letter on 14/8 promises 24/8; processed Fri 21/8: late against
    # the original due date (docs/domain.md §5), the citizen's appointment is the new date.
    events = (
        received(at("2026-08-10")),
        ev("dossier.extended", at("2026-08-14"), new_due_at=at("2026-08-24", "17:00").isoformat(), reason="Xin lỗi"),
        ev("dossier.processed", at("2026-08-21")),
    )
    s = state(*events)
    assert s.due_at == at("2026-08-17", "17:00") and s.appointment_at == at("2026-08-24", "17:00")
    assert s.on_time is False
    # The portal's mechanical rule (a province that sends the new date as NgayHenTra): on time.
    mechanical = fold(
        CODE, events, procedure=CATALOG.get, calendar=CALENDAR, rules=FoldRules(extension_moves_due_date=True)
    )
    assert mechanical.due_at == at("2026-08-24", "17:00") and mechanical.on_time is True


def test_an_extension_issued_after_the_deadline_leaves_the_dossier_late():
    # Apology written on 19/8, two days after the 17/8 deadline; processed 20/8 within the new date.
    s = state(
        received(at("2026-08-10")),
        ev("dossier.extended", at("2026-08-19"), new_due_at=at("2026-08-21", "17:00").isoformat(), reason="Xin lỗi"),
        ev("dossier.processed", at("2026-08-20")),
    )
    assert s.on_time is False and s.appointment_at == at("2026-08-21", "17:00")


def test_digitization_and_payment_facts():
    s = state(
        received(at("2026-08-10"), procedure="1.001612", channel=2),  # has a fee
        ev(
            "dossier.component_recorded",
            at("2026-08-10"),
            component_code="TP1",
            digitized=True,
            reused=True,
            from_population_data=True,
            from_personal_data_store=False,
        ),
        ev(
            "dossier.component_recorded",
            at("2026-08-10"),
            component_code="TP2",
            digitized=False,
            reused=False,
            from_population_data=False,
            from_personal_data_store=True,
        ),
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


def test_unknown_procedure_is_held_unjudged_with_the_code_named():
    s = fold(
        CODE,
        [received(at("2026-08-10"), procedure="9.999999"), ev("dossier.processed", at("2026-08-11"))],
        procedure=lambda c: None,
        calendar=CALENDAR,
    )
    assert s.due_at is None and s.deadline_at is None and s.on_time is None
    assert s.pending_catalog == ["procedure:9.999999"] and s.status == Status.PROCESSED


def test_illegal_transitions_are_recorded_not_applied():
    late_supply = ev("dossier.supplement_supplied", at("2026-08-11"))  # nothing was requested
    after_return = ev("dossier.transferred", at("2026-08-14"), from_unit="H44.100", to_unit="H44.07")
    s = state(
        received(at("2026-08-10")),
        late_supply,
        ev("dossier.processed", at("2026-08-12")),
        ev("dossier.result_returned", at("2026-08-13")),
        after_return,
    )
    assert s.status == Status.RETURNED and s.on_time is True and s.paused_seconds == 0
    assert [(a.event_id, a.reason) for a in s.anomalies] == [
        (late_supply.id, "no supplementation request is pending"),
        (after_return.id, "the dossier has already ended (status 10 RETURNED)"),
    ]


def test_refusal_after_processing_started_is_an_anomaly():
    refusal = ev("dossier.refused", at("2026-08-11"), reason="x")
    s = state(
        received(at("2026-08-10")),
        ev("dossier.transferred", at("2026-08-10", "10:00"), from_unit="H44.100", to_unit="H44.100"),
        refusal,
    )
    assert s.status == Status.PROCESSING
    assert [a.event_id for a in s.anomalies] == [refusal.id]


def test_online_registration_then_acceptance():
    s = state(
        ev("dossier.submitted", at("2026-08-09", "20:00"), unit_code="H44.100", procedure_code="1.000894", channel=2),
        received(at("2026-08-10"), channel=2),
    )
    assert s.status == Status.ACCEPTED and s.anomalies == [] and s.received_at == at("2026-08-10")


def test_deadline_timer_marks_open_dossiers_overdue_until_they_end():
    opened = received(at("2026-08-10"))  # due 17/8 17:00
    timer = ev("dossier.deadline_passed", at("2026-08-17", "17:00"))
    assert state(opened, timer).overdue is True
    assert state(opened).overdue is False
    # An extension does not lift lateness: the original deadline passed, the dossier is overdue;
    # only under the portal's mechanical rule does the new date count.
    extended = ev(
        "dossier.extended",
        at("2026-08-17", "16:00"),
        new_due_at=at("2026-08-20", "17:00").isoformat(),
        reason="Thư xin lỗi",
    )
    assert state(opened, extended, timer).overdue is True
    mechanical = fold(
        CODE,
        [opened, extended, timer],
        procedure=CATALOG.get,
        calendar=CALENDAR,
        rules=FoldRules(extension_moves_due_date=True),
    )
    assert mechanical.overdue is False
    assert state(opened, timer, ev("dossier.processed", at("2026-08-18"))).overdue is False


def test_property_any_order_with_duplicates_gives_the_in_order_state():
    import random

    from shared.events import parse_event
    from shared.units import load_units
    from simulators.counter.generator import DossierGenerator

    rng = random.Random(5)
    generated = DossierGenerator(load_units(), seed=5).dossiers(200, at("2026-03-01"), at("2026-06-01"))
    for events in generated:
        stored = [stored_event(p.id, p.type, p.time, p.data) for p in map(parse_event, events)]
        code = events[0]["subject"]
        clean = fold(code, stored, procedure=CATALOG.get, calendar=CALENDAR)
        for _ in range(5):
            replay = rng.sample(stored, len(stored))
            # The store keeps one row per event id, so a duplicate reaches the fold once.
            deduplicated = list({e.id: e for e in replay + rng.sample(stored, 2)}.values())
            assert fold(code, deduplicated, procedure=CATALOG.get, calendar=CALENDAR) == clean


def test_feedback_and_ratings_after_the_result_is_returned():
    s = state(
        received(at("2026-08-10")),
        ev("dossier.processed", at("2026-08-12")),
        ev("dossier.result_returned", at("2026-08-13")),
        ev("dossier.feedback_received", at("2026-08-14"), feedback_id="PA1", due_at=at("2026-08-24").isoformat()),
        ev("dossier.feedback_received", at("2026-08-14"), feedback_id="PA2", due_at=at("2026-08-20").isoformat()),
        ev("dossier.feedback_handled", at("2026-08-20"), feedback_id="PA1", satisfied=True),  # on time
        ev("dossier.feedback_handled", at("2026-08-21"), feedback_id="PA2", satisfied=False),  # late
        ev("dossier.rated", at("2026-08-15"), rating="satisfied"),
        ev("dossier.rated", at("2026-08-22"), rating="dissatisfied"),  # the latest rating counts
    )
    assert s.anomalies == []
    assert (s.feedback, s.feedback_handled_on_time, s.feedback_satisfied, s.disliked) == (2, 1, 1, True)
    assert s.procedure.field == "Hộ tịch" and s.procedure.population_data_connected
