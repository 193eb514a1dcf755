"""Control sheet: each hand-over's step and its verdict."""

from services.processing.controlsheet import control_sheet
from tests.processing.test_lifecycle import at, ev, received


def test_steps_end_at_the_next_hand_over_and_are_judged_against_their_own_due_time():
    events = [
        received(at("2026-08-10")),
        ev(
            "dossier.transferred",
            at("2026-08-10", "10:00"),
            from_unit="H44.100",
            to_unit="H44.100",
            to_official="Nguyễn Văn An",
            step_due_at=at("2026-08-12", "17:00").isoformat(),
        ),
        ev(
            "dossier.transferred",
            at("2026-08-11", "15:00"),
            from_unit="H44.100",
            to_unit="H44.07",
            from_official="Nguyễn Văn An",
            step_due_at=at("2026-08-13", "10:00").isoformat(),
        ),
        ev(
            "dossier.transferred",
            at("2026-08-13", "09:00"),
            from_unit="H44.07",
            to_unit="H44.100",
            step_due_at=at("2026-08-13", "11:00").isoformat(),
        ),
        ev("dossier.processed", at("2026-08-14")),
    ]
    sheet = control_sheet(events[::-1])  # arrival order does not matter
    assert [(s["to_unit"], s["verdict"]) for s in sheet] == [
        ("H44.100", "early"),  # ended 11/8, due 12/8
        ("H44.07", "on_time"),  # ended 13/8 09:00, due 13/8 10:00
        ("H44.100", "late"),  # ended 14/8, due 13/8 11:00
    ]
    assert sheet[0]["to_official"] == "Nguyễn Văn An" and sheet[-1]["ended_at"] == at("2026-08-14")
