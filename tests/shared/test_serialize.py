"""serialize() with data already encoded gives the same bytes as with the data in the envelope."""

from __future__ import annotations

from datetime import UTC, datetime

import pydantic_core
import pytest

from shared.event_types import DocumentItem, DossierState, ProcedureFacts, StepItem
from shared.events import make_event, parse_typed, serialize

CODE = "H44.100-260803-0001"
AT = datetime(2026, 8, 3, 2, tzinfo=UTC)


def a_state() -> DossierState:
    return DossierState(
        dossier_code=CODE,
        unit_code="H44.100",
        procedure_code="1.000894",
        channel=2,
        status=4,
        revision=3,
        received_at=AT,
        procedure=ProcedureFacts(
            name="Đăng ký kết hôn",
            field="Hộ tịch",
            online="full",
            has_fee=True,
            online_payment=True,
            fee_data_synced=False,
            population_data_connected=True,
        ),
        documents=[DocumentItem(code="TP01", digitized=True, reused=False, from_population_data=True)],
        steps=[
            StepItem(
                unit_code="H44.100", official="Nguyễn Thị Ánh", started_at=AT, due_at=None, ended_at=None, verdict=None
            )
        ],
    )


def envelope(data):
    return make_event(
        event_id=f"{CODE}:r3", type="dossier.state", source="processing", subject=CODE, time=AT, data=data
    )


def test_pre_encoded_data_gives_the_same_wire_form():
    state = a_state()
    spliced = serialize(envelope({}), pydantic_core.to_json(state))
    assert spliced == serialize(envelope(state))
    _, parsed = parse_typed(spliced)
    assert parsed == state and "Nguyễn Thị Ánh".encode() in spliced


def test_pre_encoded_data_needs_an_envelope_without_data():
    with pytest.raises(ValueError, match="empty"):
        serialize(envelope({"status": 1}), b"{}")
