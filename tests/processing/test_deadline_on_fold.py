"""A deadline that has already passed when a dossier's events arrive is recorded by the fold
itself: one state, already overdue, and nothing left for the overdue timer. A deadline still
ahead is the timer's, as before. Real database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.processing.api import upsert_procedures
from services.processing.catalog import CatalogCache, load_seed
from services.processing.deadlines import fire_due_deadlines
from services.processing.handlers import ACCEPTS, handle_intake_batch
from services.processing.models import Base, Dossier, DossierEvent
from services.processing.workcalendar import load_calendar
from shared.tables import outbox
from shared.topics import Topics
from simulators.counter.events import EventFactory
from tests.conftest import consumed
from tests.processing.conftest import records

pytestmark = pytest.mark.integration
LATE = "H44.100-261001-0001"  # received weeks ago, never processed: its deadline has passed
FRESH = "H44.100-261126-0002"  # received a moment ago: its deadline is days ahead


async def test_a_passed_deadline_is_recorded_in_the_fold_and_the_timer_finds_nothing(stores):
    processing = await stores("processing", Base.metadata)
    topics = Topics("t-")
    calendar, catalog = load_calendar(), CatalogCache()
    async with processing() as session, session.begin():
        await session.execute(upsert_procedures(list(load_seed().values()), replace=False))
    f = EventFactory("motcua-test")
    now = datetime.now(UTC)
    events = [
        f.received(LATE, now - timedelta(days=40), unit="H44.100", procedure="1.000894", channel=1),
        f.received(FRESH, now - timedelta(minutes=5), unit="H44.100", procedure="1.000894", channel=1),
    ]
    async with processing() as session, session.begin():
        batch = consumed(records(events), ACCEPTS)
        await handle_intake_batch(session, batch, calendar=calendar, catalog=catalog, topics=topics)

    async with processing() as session:
        late, fresh = (await session.get(Dossier, LATE)).state, (await session.get(Dossier, FRESH)).state
        stored = (await session.execute(select(DossierEvent.dossier_code, DossierEvent.type))).tuples().all()
        published = [
            json.loads(v)["data"]
            for v in (await session.execute(select(outbox.c.value).where(outbox.c.topic == topics.lifecycle))).scalars()
        ]
    assert late["overdue"] is True and late["revision"] == 2  # received, and the deadline recorded
    assert datetime.fromisoformat(late["deadline_at"]) < now
    assert (LATE, "dossier.deadline_passed") in stored
    assert fresh["overdue"] is False and datetime.fromisoformat(fresh["deadline_at"]) > now
    assert (FRESH, "dossier.deadline_passed") not in stored
    # One state each: the late dossier was never published as not overdue.
    assert sorted((p["dossier_code"], p["revision"], p["overdue"]) for p in published) == [
        (LATE, 2, True),
        (FRESH, 1, False),
    ]

    # The timer has nothing to do now; a week later, the fresh dossier's deadline is its to record.
    async with processing() as session, session.begin():
        assert await fire_due_deadlines(session, now, calendar=calendar, catalog=catalog, topics=topics) == 0
    async with processing() as session, session.begin():
        later = now + timedelta(days=30)
        assert await fire_due_deadlines(session, later, calendar=calendar, catalog=catalog, topics=topics) == 1
    async with processing() as session:
        fresh = (await session.get(Dossier, FRESH)).state
    assert fresh["overdue"] is True and fresh["revision"] == 2
