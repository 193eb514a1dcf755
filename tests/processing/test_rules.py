"""Hand-worked dossiers for the corrected rules (issue 14): fees after processing, PAKN deadlines
by rule, the time limit in force at reception, the average handling time's measure (2.2)."""

from datetime import date

from services.processing.catalog import FormerLimit, load_seed
from services.processing.lifecycle import fold
from shared.event_types import Status
from tests.processing.test_lifecycle import CALENDAR, CATALOG, CODE, at, ev, received, state


def test_fee_requested_after_processing_is_status_6_until_paid_then_back_at_9():
    # 1.001612 (3 working days, has a fee): processed Wed 12/8, the fee asked Thu 13/8, paid Fri 14/8.
    opened = received(at("2026-08-10"), procedure="1.001612")
    processed = ev("dossier.processed", at("2026-08-12"))
    asked = ev("dossier.fee_requested", at("2026-08-13"), amount=100000, fee_type=2)
    paid = ev("dossier.fee_paid", at("2026-08-14"), amount=100000, method=2)
    assert state(opened, processed, asked).status == Status.FEE_REQUESTED
    s = state(opened, processed, asked, paid)
    assert s.status == Status.PROCESSED  # back at 9, not 4: processing had already ended
    assert s.end_at == at("2026-08-12") and s.on_time is True and s.paid_online and s.anomalies == []
    # Returned afterwards: 10. Nothing but fees and the return may follow processing, even in status 6.
    transfer = ev("dossier.transferred", at("2026-08-13", "10:00"), from_unit="H44.100", to_unit="H44.07")
    s = state(opened, processed, asked, transfer, paid, ev("dossier.result_returned", at("2026-08-17")))
    assert s.status == Status.RETURNED and [a.event_id for a in s.anomalies] == [transfer.id]


def test_fee_paid_during_processing_resumes_processing():
    s = state(
        received(at("2026-08-10"), procedure="1.001612"),
        ev("dossier.fee_requested", at("2026-08-10", "10:00"), amount=100000),
        ev("dossier.fee_paid", at("2026-08-11"), amount=100000, method=0),
    )
    assert s.status == Status.PROCESSING and not s.paid_online


def pakn(*events):
    opened = received(at("2026-08-03"))  # Mon 3/8/2026; processed and returned the same week
    return state(
        opened, ev("dossier.processed", at("2026-08-05")), ev("dossier.result_returned", at("2026-08-06")), *events
    )


def test_pakn_without_a_deadline_gets_15_working_days():
    # Received Mon 10/8: 15 working days after it are 11-14/8, 17-21/8, Sat 22/8 (made a working day
    # by the 2026 table) and 24-28/8 -> due Fri 28/8 17:00 (29/8-2/9 are off).
    received_pakn = ev("dossier.feedback_received", at("2026-08-10"), feedback_id="P1")
    on_time = pakn(received_pakn, ev("dossier.feedback_handled", at("2026-08-28", "16:00"), feedback_id="P1"))
    late = pakn(received_pakn, ev("dossier.feedback_handled", at("2026-09-03", "09:00"), feedback_id="P1"))
    assert CALENDAR.add_working_days(date(2026, 8, 10), 15) == date(2026, 8, 28)
    assert (on_time.feedback, on_time.feedback_handled_on_time) == (1, 1)
    assert (late.feedback, late.feedback_handled_on_time) == (1, 0)


def test_pakn_refusal_within_2_and_supplement_request_within_5_working_days():
    got = ev("dossier.feedback_received", at("2026-08-10"), feedback_id="P1")  # Mon 10/8
    # Refused Wed 12/8 (2 working days: due 12/8 17:00): on time; Thu 13/8: late.
    assert (
        pakn(
            got, ev("dossier.feedback_handled", at("2026-08-12"), feedback_id="P1", outcome="refused")
        ).feedback_handled_on_time
        == 1
    )
    assert (
        pakn(
            got, ev("dossier.feedback_handled", at("2026-08-13"), feedback_id="P1", outcome="refused")
        ).feedback_handled_on_time
        == 0
    )
    # Asked for more on Mon 17/8 (5 working days: due 17/8 17:00), answered 20/8: on time.
    asked = ev("dossier.feedback_handled", at("2026-08-17"), feedback_id="P1", outcome="supplement_requested")
    assert pakn(got, asked).feedback_handled_on_time == 0  # still open
    assert (
        pakn(got, asked, ev("dossier.feedback_handled", at("2026-08-20"), feedback_id="P1")).feedback_handled_on_time
        == 1
    )
    # Asked on Tue 18/8 (a day late): the answer in time does not make it on time.
    late_ask = ev("dossier.feedback_handled", at("2026-08-18"), feedback_id="P1", outcome="supplement_requested")
    assert (
        pakn(got, late_ask, ev("dossier.feedback_handled", at("2026-08-20"), feedback_id="P1")).feedback_handled_on_time
        == 0
    )


def test_pakn_deadline_carried_by_the_event_still_wins_for_the_answer():
    got = ev("dossier.feedback_received", at("2026-08-10"), feedback_id="P1", due_at=at("2026-08-12").isoformat())
    assert pakn(got, ev("dossier.feedback_handled", at("2026-08-13"), feedback_id="P1")).feedback_handled_on_time == 0


def test_a_dossier_is_judged_by_the_time_limit_in_force_when_received():
    # 1.000894 was 5 working days; from 1/9/2026 the catalog says 3 (the 5 kept as a former limit).
    current = CATALOG["1.000894"].model_copy(
        update={
            "limit": CATALOG["1.000894"].limit.model_copy(update={"amount": 3}),
            "former_limits": [FormerLimit(amount=5, unit="working_days", until=date(2026, 9, 1))],
        }
    )
    catalog = {**CATALOG, "1.000894": current}
    before = fold(CODE, [received(at("2026-08-24"))], procedure=catalog.get, calendar=CALENDAR)
    after = fold(CODE, [received(at("2026-09-07"))], procedure=catalog.get, calendar=CALENDAR)
    # Mon 24/8 + 5 working days (25-28/8, then 29/8-2/9 off, 3/9) = Thu 3/9; Mon 7/9 + 3 = Thu 10/9.
    assert before.due_at == at("2026-09-03", "17:00")
    assert after.due_at == at("2026-09-10", "17:00")


def test_handling_time_in_the_procedures_unit_minus_supplementation():
    # 1.000894 (working days): received Mon 10/8 09:00, waiting 11/8 09:00 -> 13/8 09:00 (two office
    # days), processed Fri 14/8 09:00: 4 office days elapsed - 2 paused = 2.0 working days.
    s = state(
        received(at("2026-08-10")),
        ev("dossier.supplement_requested", at("2026-08-11"), reason="x"),
        ev("dossier.supplement_supplied", at("2026-08-13")),
        ev("dossier.processed", at("2026-08-14")),
    )
    assert s.handling_time == 2.0
    # 2.000908 (hours): received 09:00, processed 14:30 the same day: 2.5 h + 1 h = 3.5 office hours.
    s = state(received(at("2026-08-10"), procedure="2.000908"), ev("dossier.processed", at("2026-08-10", "14:30")))
    assert s.handling_time == 3.5
    # 1.004227 (calendar days): 10/8 09:00 -> 13/8 21:00 = 3.5 days. Open dossiers have none.
    s = state(received(at("2026-08-10"), procedure="1.004227"), ev("dossier.processed", at("2026-08-13", "21:00")))
    assert s.handling_time == 3.5
    assert state(received(at("2026-08-10"))).handling_time is None


def test_seed_catalog_still_loads_with_the_new_fields_defaulted():
    p = load_seed()["1.000894"]
    assert p.former_limits == [] and p.paper_result is False and p.facts().time_unit == "working_days"


def test_result_returned_by_post_and_received_elsewhere_are_kept():
    # Received v2 at H44.101's counter for H44.100 to handle; the result returned by post (v2).
    s = state(
        ev(
            "dossier.received",
            at("2026-08-10"),
            unit_code="H44.100",
            procedure_code="1.000894",
            channel=3,
            receiving_unit_code="H44.101",
        ),
        ev("dossier.processed", at("2026-08-11")),
        ev("dossier.result_returned", at("2026-08-12"), return_method="post"),
    )
    assert (s.unit_code, s.receiving_unit_code, s.channel, s.return_method) == ("H44.100", "H44.101", 3, "post")
    # Version 1 (no method) and reception at the handling unit itself leave both empty.
    s = state(
        ev(
            "dossier.received",
            at("2026-08-10"),
            unit_code="H44.100",
            procedure_code="1.000894",
            channel=1,
            receiving_unit_code="H44.100",
        ),
        ev("dossier.result_returned", at("2026-08-12")),
    )
    assert s.receiving_unit_code is None and s.return_method is None


def test_version_2_events_parse_and_version_1_stays_as_it_was():
    from shared.events import EventError, parse_typed

    def envelope(type, version, data):
        return {
            "id": "event-0001",
            "type": type,
            "version": version,
            "source": "buudien",
            "subject": CODE,
            "time": "2026-08-10T09:00:00+07:00",
            "data": data,
        }

    opened = {"unit_code": "H44.100", "procedure_code": "1.000894", "channel": 3}
    _, v2 = parse_typed(envelope("dossier.received", 2, opened | {"receiving_unit_code": "H44.101"}))
    assert v2.receiving_unit_code == "H44.101"
    _, returned = parse_typed(envelope("dossier.result_returned", 2, {"return_method": "post"}))
    assert returned.return_method == "post"
    _, v1 = parse_typed(envelope("dossier.received", 1, opened))
    assert v1.model_dump(mode="json") == opened  # the wire form of version 1 is unchanged
    for wrong in (
        envelope("dossier.received", 1, opened | {"receiving_unit_code": "H44.101"}),
        envelope("dossier.result_returned", 2, {"return_method": "drone"}),
    ):
        try:
            parse_typed(wrong)
        except EventError:
            continue
        raise AssertionError(f"accepted {wrong['data']}")
