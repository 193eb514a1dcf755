"""Metrics reads a dossier.state through its own view (handlers.VIEWS), the lists it derives no
fact from left unvalidated: the facts are those of the fully validated state, and what a fact
reads is still validated (a bad value is refused, as before)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pydantic_core
import pytest
from pydantic import ValidationError

from services.metrics.handlers import ACCEPTS, VIEWS, StateFacts, fold_messages
from services.processing.catalog import load_seed
from services.processing.lifecycle import fold
from services.processing.refold import _state_event
from services.processing.stored import stored_event
from services.processing.workcalendar import load_calendar
from shared.consumer import Message, decode
from shared.event_types import DossierState
from shared.events import parse_event, serialize
from shared.units import load_units
from simulators.counter.generator import DossierGenerator

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def states(count: int) -> list[DossierState]:
    """Real states: generated dossiers folded as processing folds them."""
    units, catalog, calendar = load_units(), load_seed(), load_calendar()
    by_code = defaultdict(list)
    for events in DossierGenerator(units, seed=11).dossiers(
        count, datetime(2026, 3, 1, tzinfo=VN), datetime(2026, 5, 1, tzinfo=VN)
    ):
        for e in map(parse_event, events):
            by_code[e.subject].append(stored_event(e.id, e.type, e.time, e.data))
    folded = [
        fold(c, evs, procedure=catalog.get, calendar=calendar, known_unit=units.__contains__)
        for c, evs in by_code.items()
    ]
    return [s for s in folded if s is not None]


def record(s: DossierState) -> SimpleNamespace:
    return SimpleNamespace(value=serialize(_state_event(s, datetime.now(UTC)), pydantic_core.to_json(s)))


def test_the_view_gives_the_facts_of_the_full_state():
    folded = states(300)
    assert any(s.documents and s.steps for s in folded)  # the lists the view skips are there
    records = [record(s) for s in folded]
    viewed = [decode(r, ACCEPTS, "metrics", VIEWS) for r in records]
    full = [decode(r, ACCEPTS, "metrics") for r in records]
    assert all(isinstance(m, Message) and isinstance(m.data, StateFacts) for m in viewed)
    assert all(isinstance(m, Message) and isinstance(m.data, DossierState) for m in full)
    assert fold_messages(viewed) == fold_messages(full)


def test_what_a_fact_reads_is_still_validated():
    view = VIEWS[("dossier.state", 1)]
    body = json.loads(record(states(20)[0]).value)
    assert view.model_validate(body)  # as published
    # The lists no fact reads are taken as they come…
    assert view.model_validate({**body, "data": {**body["data"], "documents": [{"code": 1}]}})
    # …but every field a fact reads is checked, and a name the state does not have is refused.
    for field, bad in (("on_time", "perhaps"), ("fees", [{"amount": "many"}]), ("procedure", {"name": 1}), ("x", 1)):
        with pytest.raises(ValidationError):
            view.model_validate({**body, "data": {**body["data"], field: bad}})
        spoiled = json.dumps({**body, "data": {**body["data"], field: bad}}, separators=(",", ":")).encode()
        assert not isinstance(decode(SimpleNamespace(value=spoiled), ACCEPTS, "metrics", VIEWS), Message), field
