"""The README's guarantees about metrics, on the real database: its consumer's handler applies
canonical states as the broker would deliver them (in one batch, or in several), and the counts
come from the same query the API reports with.

- an older revision never overwrites a newer one, in one batch and across batches;
- a dossier only submitted online (status 1) stays out of the denominators;
- an open dossier in a running period is judged against now (on time while its deadline is ahead);
- a PAKN handled the next month counts in the dossier's reception month.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pydantic_core
import pytest

from services.metrics.aggregates import count
from services.metrics.handlers import ACCEPTS, _fact, handle_canonical_batch
from services.metrics.models import Base
from services.metrics.periods import Period, parse_period
from services.processing.catalog import load_seed
from services.processing.lifecycle import fold
from services.processing.refold import _state_event
from services.processing.stored import StoredEvent, stored_event
from services.processing.workcalendar import load_calendar
from shared.db import create_schema, make_engine, make_sessionmaker
from shared.event_types import DossierState
from shared.events import serialize
from shared.tables import PLUMBING
from tests.conftest import DATABASE_URL, consumed

pytestmark = pytest.mark.integration
VN = ZoneInfo("Asia/Ho_Chi_Minh")
CATALOG, CALENDAR = load_seed(), load_calendar()
_ids = itertools.count()
_offsets = itertools.count()


@pytest.fixture
async def metrics_db(schemas):
    schema = f"{schemas}metrics"
    engine = make_engine(DATABASE_URL, schema)
    await create_schema(engine, schema, PLUMBING, Base.metadata)
    yield make_sessionmaker(engine)
    await engine.dispose()


def ev(type: str, when: datetime, **data) -> StoredEvent:
    return stored_event(f"e{next(_ids):05d}", type, when, data)


def received(when: datetime, **data) -> StoredEvent:
    # 1.000894 Đăng ký kết hôn: 5 working days in the seed catalog.
    return ev("dossier.received", when, **({"unit_code": "H44.100", "procedure_code": "1.000894", "channel": 1} | data))


def states(code: str, *events: StoredEvent) -> list[DossierState]:
    """The state after each event: revisions 1, 2, 3… as processing publishes them."""
    return [fold(code, events[:i], procedure=CATALOG.get, calendar=CALENDAR) for i in range(1, len(events) + 1)]


def record(state: DossierState) -> SimpleNamespace:
    """The consumer record processing's relay would publish for this state."""
    value = serialize(_state_event(state, datetime.now(UTC)), pydantic_core.to_json(state))
    return SimpleNamespace(
        topic="dossier-lifecycle", partition=0, offset=next(_offsets), key=state.dossier_code.encode(), value=value
    )


async def apply(sessionmaker, *batches: list[DossierState]) -> None:
    for batch in batches:
        async with sessionmaker() as session, session.begin():
            assert await handle_canonical_batch(session, consumed([record(s) for s in batch], ACCEPTS)) == []


async def fact(sessionmaker, code: str) -> dict:
    async with sessionmaker() as session:
        row = (
            await session.execute(
                Base.metadata.tables["dossier_facts"]
                .select()
                .where(Base.metadata.tables["dossier_facts"].c.dossier_code == code)
            )
        ).one()
    return dict(row._mapping)


async def totals(sessionmaker, period: Period, now: datetime) -> dict[str, int]:
    """The province's counts as the API computes them (judged at the period's end, or now)."""
    async with sessionmaker() as session:
        groups = await count(session, period, min(now, period.end))
    return {
        name: sum(c[name] for c in groups.values()) for name in ("received", "on_time", "feedback", "feedback_on_time")
    }


def at(day: str, clock: str = "09:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}:00").replace(tzinfo=VN)


@pytest.mark.parametrize("batches", ["one batch", "across batches"])
async def test_an_older_revision_never_overwrites_a_newer_one(metrics_db, batches):
    code = f"H44.100-260810-{next(_ids):04d}"
    r1, r2, r3 = states(
        code,
        received(at("2026-08-10")),
        ev("dossier.processed", at("2026-08-12")),
        ev("dossier.result_returned", at("2026-08-13")),
    )
    assert (r2.revision, r3.revision) == (2, 3) and r2.status != r3.status
    if batches == "one batch":
        await apply(metrics_db, [r1, r3, r2])  # the newest is not last
    else:
        await apply(metrics_db, [r1], [r3], [r2])  # r2 redelivered after r3
    held = await fact(metrics_db, code)
    assert {k: held[k] for k in _fact(r3)} == _fact(r3)
    await apply(metrics_db, [r3])  # a duplicate of the newest changes nothing either
    assert (await fact(metrics_db, code))["revision"] == 3


async def test_a_dossier_only_submitted_online_stays_out_of_the_denominators(metrics_db):
    online = f"H44.100-260811-{next(_ids):04d}"
    counter = f"H44.100-260811-{next(_ids):04d}"
    accepted_later = f"H44.100-260811-{next(_ids):04d}"
    submitted = {"unit_code": "H44.100", "procedure_code": "1.000894", "channel": 2}
    only_submitted = states(online, ev("dossier.submitted", at("2026-08-11"), **submitted))[-1]
    at_counter = states(counter, received(at("2026-08-11")))[-1]
    both = states(
        accepted_later, ev("dossier.submitted", at("2026-08-11"), **submitted), received(at("2026-08-12"), channel=2)
    )[-1]
    await apply(metrics_db, [only_submitted, at_counter, both])
    august = await totals(metrics_db, parse_period("2026-08"), now=datetime.now(UTC))
    assert august["received"] == 2  # the counter's and the one accepted later; not the registration


async def test_an_open_dossier_in_a_running_period_is_judged_against_now(metrics_db):
    now = datetime.now(VN)
    period = parse_period(f"{now.year:04d}-{now.month:02d}")
    # Both received this month, neither finished: one's deadline is past, the other's ahead.
    past = states(f"H44.100-{now:%y%m%d}-{next(_ids):04d}", received(now - timedelta(days=20, hours=1)))[-1]
    ahead = states(f"H44.100-{now:%y%m%d}-{next(_ids):04d}", received(now - timedelta(minutes=5)))[-1]
    if past.received_at < period.start:
        past = None  # early in the month: no dossier received this month can be 5 working days late
    await apply(metrics_db, [s for s in (past, ahead) if s])
    assert ahead.deadline_at > now and ahead.on_time is None
    got = await totals(metrics_db, period, now=now)
    assert got["received"] == (2 if past else 1)
    assert got["on_time"] == 1  # the one whose deadline is ahead of now, not of the period's end
    # Judged at the period's end instead (as if the period were over), the open one would be late
    # too if its deadline fell before then: the judging time is what decides.
    async with metrics_db() as session:
        far = await count(session, period, ahead.deadline_at + timedelta(seconds=1))
    assert sum(c["on_time"] for c in far.values()) == 0


async def test_a_pakn_handled_the_next_month_counts_in_the_reception_month(metrics_db):
    code = f"H44.100-260825-{next(_ids):04d}"
    due = at("2026-09-08", "17:00")
    final = states(
        code,
        received(at("2026-08-25")),
        ev("dossier.processed", at("2026-08-27")),
        ev("dossier.feedback_received", at("2026-08-28"), feedback_id="pakn-1", due_at=due.isoformat()),
        ev("dossier.feedback_handled", at("2026-09-03"), feedback_id="pakn-1", satisfied=True),
    )[-1]
    await apply(metrics_db, [final])
    now = datetime.now(UTC)
    august = await totals(metrics_db, parse_period("2026-08"), now)
    september = await totals(metrics_db, parse_period("2026-09"), now)
    assert (august["feedback"], august["feedback_on_time"]) == (1, 1)
    assert (september["feedback"], september["feedback_on_time"]) == (0, 0)
