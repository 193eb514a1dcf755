"""Stored events come back typed, and what the consumer validated is not validated again.

The fold reads every event of a dossier on every new fact; stored.py decodes each stored text
once (memoized by content) and is handed the consumer's models for the events it just stored.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Text, cast, select

from services.processing import stored
from services.processing.api import upsert_procedures
from services.processing.catalog import CatalogCache, load_seed
from services.processing.handlers import ACCEPTS, handle_intake_batch
from services.processing.models import Base, Dossier, DossierEvent
from services.processing.workcalendar import load_calendar
from shared.db import create_schema, make_engine, make_sessionmaker
from shared.event_types import ComponentRecorded, DocumentStatus, DocumentStatusV2, NoData, ReceivedV2, ResultReturned
from shared.tables import PLUMBING
from shared.topics import Topics
from simulators.counter.events import EventFactory
from tests.conftest import DATABASE_URL, consumed

VN = ZoneInfo("Asia/Ho_Chi_Minh")
AT = datetime(2026, 8, 10, 9, tzinfo=VN)


def test_the_data_model_is_found_from_the_type_alone():
    def data(type_: str, value: dict):
        return stored.stored_event("event-0001", type_, AT, json.dumps(value)).data

    opening = {"unit_code": "H44.100", "procedure_code": "1.000894", "channel": 1}
    assert isinstance(data("dossier.received", opening), ReceivedV2)  # v2 reads v1's data too
    assert data("dossier.received", opening | {"summary": "x"}).summary == "x"
    assert isinstance(data("dossier.result_returned", {}), NoData)
    assert data("dossier.result_returned", {"return_method": "post"}) == ResultReturned(return_method="post")
    v1 = {"document_id": "D1", "status": "received", "organ_id": "H44.100"}
    v2 = {"document_id": "D1", "status_code": "15", "organ_id": "H44.100"}
    assert isinstance(data("dossier.document_status", v1), DocumentStatus)
    assert isinstance(data("dossier.document_status", v2), DocumentStatusV2)
    assert data("dossier.catalog_learned", {"code": "unit:H44.100"}).code == "unit:H44.100"
    assert isinstance(
        stored.stored_event("e", "dossier.component_recorded", AT, {"component_code": "TP1"}).data, ComponentRecorded
    )


class NoDecoding(dict):
    def __getitem__(self, event_type):
        raise AssertionError(f"a {event_type} the consumer validated was decoded again")


@pytest.mark.integration
async def test_a_fold_does_not_validate_again_what_the_consumer_validated(schemas, monkeypatch):
    engine = make_engine(DATABASE_URL, f"{schemas}processing")
    await create_schema(engine, f"{schemas}processing", PLUMBING, Base.metadata)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with sessionmaker() as session, session.begin():
            await session.execute(upsert_procedures(list(load_seed().values()), replace=False))
        f = EventFactory("motcua-test")
        code = "H44.100-260810-0009"
        events = [
            f.received(code, AT, unit="H44.100", procedure="1.000894", channel=2),
            f.component(code, AT, "TP01", digitized=True),
            f.event("dossier.processed", code, AT + timedelta(hours=5)),
        ]
        records = [
            SimpleNamespace(value=json.dumps(e).encode(), topic="t", partition=0, offset=i)
            for i, e in enumerate(events)
        ]
        monkeypatch.setattr(stored, "_DECODED", {})  # nothing decoded before this test
        monkeypatch.setattr(stored, "_ADAPTERS", NoDecoding())  # and nothing decoded during it

        async with sessionmaker() as session, session.begin():
            messages = consumed(records, ACCEPTS)
            assert (
                await handle_intake_batch(
                    session, messages, calendar=load_calendar(), catalog=CatalogCache(), topics=Topics("t-")
                )
                == []
            )
        async with sessionmaker() as session:
            state = (await session.get(Dossier, code)).state
            ev = DossierEvent.__table__.c
            texts = (await session.execute(select(ev.type, cast(ev.data, Text)))).tuples().all()
        assert state["status"] == 9 and state["components_digitized"] == 1
        # The stored text is the text the consumer's models were remembered under: every fold hits.
        assert all((kind, text) in stored._DECODED for kind, text in texts), (texts, list(stored._DECODED))
    finally:
        await engine.dispose()
