"""Recompute the portal's published Phú Thọ figures (docs/domain.md §6) from canonical events.

184,513 dossier.state events go through the metrics consumer's handler into a real
PostgreSQL schema; the figures come out of the same counting and scoring the API uses.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from services.metrics.handlers import ACCEPTS, handle_canonical_batch
from services.metrics.models import Base
from services.metrics.periods import parse_period
from services.metrics.reports import Options, unit_report
from shared.db import create_schema, make_engine, make_sessionmaker
from shared.event_types import DossierState
from shared.tables import PLUMBING
from shared.units import load_units
from tests.conftest import DATABASE_URL, consumed

pytestmark = pytest.mark.integration

RECEIVED, ON_TIME, E_RESULT, DIGITIZED, REUSED = 184_513, 144_625, 133_274, 21_233, 3_160
PAKN, PAKN_ON_TIME, PAKN_SATISFIED = 247, 182, 137
ON_TIME_WITH_PAKN, ON_TIME_DISLIKED = 40, 11  # 51 on-time dossiers with a PAKN or a dislike


def dossier_state(i: int, received_at: datetime) -> dict:
    """Dossier i of the month (as JSON data); the counts above decide its facts by its index."""
    on_time = i < ON_TIME
    # PAKN sit on on-time dossiers [0, 40) and on late dossiers [ON_TIME, ON_TIME + 207).
    pakn_index = i if i < ON_TIME_WITH_PAKN else i - ON_TIME + ON_TIME_WITH_PAKN if i >= ON_TIME else None
    has_pakn = pakn_index is not None and pakn_index < PAKN
    return dict(
        TEMPLATE,
        dossier_code=f"H44.{100 + i % 70}-260315-{i:06d}",
        unit_code=f"H44.{100 + i % 70}",
        procedure_code="1.000894",
        channel=2,
        status=10,
        revision=5,
        received_at=received_at.isoformat(),
        due_at=(received_at + timedelta(days=7)).isoformat(),
        end_at=(received_at + timedelta(days=3 if on_time else 9)).isoformat(),
        on_time=on_time,
        components=1,
        components_digitized=int(i < DIGITIZED),
        components_reused=int(i < REUSED),
        result_digitized=i < DIGITIZED,
        electronic_result=i < E_RESULT,
        feedback=int(has_pakn),
        feedback_handled_on_time=int(has_pakn and pakn_index < PAKN_ON_TIME),
        feedback_satisfied=int(has_pakn and pakn_index < PAKN_SATISFIED),
        disliked=ON_TIME_WITH_PAKN <= i < ON_TIME_WITH_PAKN + ON_TIME_DISLIKED,
    )


# Every field of the contract's DossierState, at its default, as JSON.
TEMPLATE = DossierState(
    dossier_code="-", unit_code="H44", procedure_code="1.000894", channel=2, status=10, revision=1
).model_dump(mode="json")


def records(states: list[dict]) -> list[SimpleNamespace]:
    """The canonical events as the metrics consumer reads them from the topic."""
    now = datetime.now(UTC).isoformat()
    return [
        SimpleNamespace(
            value=json.dumps(
                {
                    "id": f"{s['dossier_code']}:r{s['revision']}",
                    "type": "dossier.state",
                    "version": 1,
                    "source": "processing",
                    "subject": s["dossier_code"],
                    "time": now,
                    "data": s,
                }
            ).encode()
        )
        for s in states
    ]


@pytest.fixture
async def metrics_db(schemas):
    schema = f"{schemas}metrics"
    engine = make_engine(DATABASE_URL, schema)
    await create_schema(engine, schema, PLUMBING, Base.metadata)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def test_the_portal_example_recomputed_from_events(metrics_db):
    month = parse_period("2026-03")
    start = month.start + timedelta(hours=8)
    for first in range(0, RECEIVED, 1000):
        batch = [dossier_state(i, start + timedelta(seconds=i * 10)) for i in range(first, min(first + 1000, RECEIVED))]
        async with metrics_db() as session, session.begin():
            assert await handle_canonical_batch(session, consumed(records(batch), ACCEPTS)) == []
    async with metrics_db() as session:
        assert (await session.execute(text("SELECT count(*) FROM dossier_facts"))).scalar() == RECEIVED
        report = await unit_report(
            session, period=month, unit="H44", units=load_units(), now=datetime.now(UTC), options=Options()
        )
    components = {c["code"]: c for g in report["unit"]["index"]["groups"] for c in g["components"]}

    def figures(code):
        c = components[code]
        return c["numerator"], c["denominator"], c["score"]

    assert figures("TDGQ") == (144_625, 184_513, 15.68)
    assert components["TDGQ"]["ratio"] == 0.7838
    assert figures("MDSH.eresult") == (133_274, 184_513, 4.33)
    assert figures("MDSH.digitized") == (21_233, 184_513, 0.46)
    assert figures("MDSH.reuse") == (3_160, 184_513, 0.04)
    assert figures("MDHL.service") == (144_574, 184_513, 5.22)
    assert figures("MDHL.pakn_on_time") == (182, 247, 4.42)
    assert figures("MDHL.pakn_satisfied") == (137, 247, 3.33)
