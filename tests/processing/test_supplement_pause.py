"""The README's guarantee for supplementation: the time waiting for the citizen is taken out of
the clock whole (docs/domain.md §5: subtract completion − request), also when the wait spans a weekend
or public holidays; the deadline moves by exactly that, to the second."""

from datetime import timedelta

import pytest

from shared.event_types import Status
from tests.processing.test_lifecycle import at, ev, received, state

CASES = {
    # Due Thu 20/8 17:00 (5 working days from Thu 13/8); waiting Fri 14/8 → Mon 17/8 over a weekend.
    "weekend": ("2026-08-13", "2026-08-14", "2026-08-17", "2026-08-20", timedelta(days=3)),
    # Due Fri 4/9 17:00 from Thu 27/8 (29/8-2/9 off for National Day); waiting Fri 28/8 → Thu 3/9.
    "national day": ("2026-08-27", "2026-08-28", "2026-09-03", None, timedelta(days=6)),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("margin", [-1, 1])
def test_a_supplementation_pause_across_days_off_moves_the_deadline_by_the_whole_wait(case, margin):
    day, asked, supplied, due_day, wait = CASES[case]
    plain = state(received(at(day)))
    if due_day:
        assert plain.due_at == at(due_day, "17:00")
    paused = [
        received(at(day)),
        ev("dossier.supplement_requested", at(asked), reason="Thiếu bản sao"),
        ev("dossier.supplement_supplied", at(supplied)),
    ]
    waiting = state(*paused)
    assert waiting.paused_seconds == wait.total_seconds()
    assert waiting.deadline_at == plain.due_at + wait
    done = state(*paused, ev("dossier.processed", waiting.deadline_at + timedelta(seconds=margin)))
    assert done.status == Status.PROCESSED
    assert done.on_time is (margin < 0)
