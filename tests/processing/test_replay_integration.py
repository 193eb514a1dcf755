"""Shuffled and duplicated real lifecycles through the real broker give the in-order verdicts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from deploy.quiescence import wait_until_quiet
from services.processing.app import create_app
from services.processing.catalog import load_seed
from services.processing.config import ProcessingSettings
from services.processing.lifecycle import fold
from services.processing.stored import stored_event
from services.processing.workcalendar import load_calendar
from shared.event_types import DossierState
from shared.events import parse_event
from shared.units import load_units
from simulators.counter.generator import DossierGenerator
from tests.conftest import DATABASE_URL, KAFKA, publish

pytestmark = pytest.mark.integration


def in_order_states(dossiers: list[list[dict]]) -> dict[str, DossierState]:
    """The reference: each dossier folded from its clean, in-order sequence."""
    catalog, calendar = load_seed(), load_calendar()
    states = {}
    for events in dossiers:
        parsed = [parse_event(e) for e in events]
        stored = [stored_event(e.id, e.type, e.time, e.data) for e in parsed]
        state = fold(parsed[0].subject, stored, procedure=catalog.get, calendar=calendar)
        states[state.dossier_code] = state
    return states


def replay_order(dossiers: list[list[dict]], rng: random.Random) -> list[dict]:
    """A counter system replaying its backlog: every event once or twice, in a random order."""
    events = [e for d in dossiers for e in d]
    events += rng.sample(events, len(events) // 3)
    rng.shuffle(events)
    return events


@pytest.mark.parametrize("seed", [11, 12])
async def test_shuffled_duplicated_replay_matches_the_in_order_run(seed, topics, schemas, db):
    now = datetime.now(UTC)
    # Dossiers of last quarter: all closed, so no overdue timer fires while we compare.
    generator = DossierGenerator(load_units(), seed=seed)
    dossiers = generator.dossiers(300, now - timedelta(days=200), now - timedelta(days=120))
    expected = in_order_states(dossiers)
    settings = ProcessingSettings(
        database_url=DATABASE_URL, kafka_bootstrap=KAFKA, topic_prefix=topics.prefix, db_schema=f"{schemas}processing"
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await publish(topics.dossier_events, replay_order(dossiers, random.Random(seed)))
        await wait_until_quiet(db, KAFKA, topics, schemas, services=("processing",))
        async with db.connect() as conn:
            rows = await conn.execute(text(f'SELECT code, state FROM "{schemas}processing".dossiers'))
            actual = {r.code: DossierState.model_validate(r.state) for r in rows}
    assert actual.keys() == expected.keys()
    # `revision` counts what processing learned, including overdue-timer firings on the way
    # (a replayed backlog can look overdue until its last events arrive); all else must match.
    for states in (actual, expected):
        for code, state in states.items():
            states[code] = state.model_copy(update={"revision": 0})
    differing = [code for code in expected if actual[code] != expected[code]]
    if differing:
        first, reference = differing[0], expected[differing[0]].model_dump()
        fields = {k: (v, reference[k]) for k, v in actual[first].model_dump().items() if v != reference[k]}
        pytest.fail(f"{len(differing)} dossiers differ; {first}: (replayed, in order) {fields}")
    verdicts = [s.on_time for s in expected.values()]
    assert True in verdicts and False in verdicts  # the sample covers both verdicts
