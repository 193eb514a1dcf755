"""The delivery worker on the real PostgreSQL, with a fake portal at the adapter seam."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, text

from services.sync import backlog
from services.sync.config import SyncSettings
from services.sync.delivery import DeliveryWorker
from services.sync.handlers import ACCEPTS, handle_lifecycle_batch
from services.sync.models import Base, SyncBacklog, SyncState
from services.sync.portal import PortalError
from services.sync.retry import CircuitBreaker
from shared.db import create_schema, make_engine, make_sessionmaker
from shared.event_types import DossierState
from shared.tables import PLUMBING, outbox
from shared.topics import Topics
from tests.conftest import DATABASE_URL, consumed

pytestmark = pytest.mark.integration
CODE = "H44.100-260803-{:04d}"


def state_record(n: int, revision: int, status: int = 2) -> SimpleNamespace:
    state = DossierState(
        dossier_code=CODE.format(n),
        unit_code="H44.100",
        procedure_code="1.000894",
        channel=2,
        status=status,
        revision=revision,
        received_at=datetime(2026, 8, 3, 2, tzinfo=UTC),
        end_at=datetime(2026, 8, 5, 2, tzinfo=UTC),
        returned_at=datetime(2026, 8, 6, 2, tzinfo=UTC),
    )
    envelope = {
        "id": f"{state.dossier_code}:r{revision}",
        "type": "dossier.state",
        "source": "processing",
        "subject": state.dossier_code,
        "time": "2026-08-03T09:00:00+07:00",
        "data": state.model_dump(mode="json"),
    }
    return SimpleNamespace(value=json.dumps(envelope).encode(), topic="t", partition=0, offset=0, key=b"")


class FakePortal:
    def __init__(self, *, fail_calls: int = 0, refuse: frozenset[str] = frozenset()):
        self.fail_calls, self.refuse = fail_calls, refuse
        self.held: dict[str, int] = {}
        self.sent: list[str] = []
        self.during_call = None  # a coroutine factory run while a call is in flight

    async def sync(self, records, accepted):
        if self.during_call:
            await self.during_call()
        if self.fail_calls:
            self.fail_calls -= 1
            raise PortalError("503 (fake)", retry_after=None)
        # Queued payloads (services/sync/portal/codec.py), keyed by the internal dossier code.
        self.sent += [r["dossier_code"] for r in records]
        self.held |= {
            r["dossier_code"]: int(r["record"]["TrangThaiHoSo"])
            for r in records
            if r["dossier_code"] not in self.refuse
        }
        return {c: "2: refused (fake)" for c in self.refuse if c in {r["dossier_code"] for r in records}}

    async def remember(self, session, accepted):
        """Nothing beyond whole deliveries (the portal's sender writes its steps here)."""


@pytest.fixture
async def sessionmaker(schemas):
    engine = make_engine(DATABASE_URL, f"{schemas}sync")
    await create_schema(engine, f"{schemas}sync", PLUMBING, Base.metadata)
    yield make_sessionmaker(engine)
    await engine.dispose()


def worker(sessionmaker, portal, **settings) -> DeliveryWorker:
    s = SyncSettings(
        portal_username="u",
        portal_password="p",
        backoff_base_seconds=0,
        breaker_threshold=3,
        breaker_cool_down_seconds=0.0,
        **settings,
    )
    return DeliveryWorker(
        sessionmaker, portal, Topics("x."), s, rng=random.Random(1), breaker=CircuitBreaker(threshold=3, cool_down=0.0)
    )


async def queue(sessionmaker, records) -> None:
    async with sessionmaker() as session, session.begin():
        assert await handle_lifecycle_batch(session, consumed(records, ACCEPTS)) == []


async def drain(w: DeliveryWorker, rounds: int = 50) -> None:
    for _ in range(rounds):
        await w.deliver_once()
        async with w._sessionmaker() as session:
            if (await backlog.counts(session, min_attempts=99))[0] == 0:
                return
    raise AssertionError("backlog not drained")


async def test_failures_are_retried_and_each_delivery_publishes_its_outcome_once(sessionmaker):
    portal = FakePortal(fail_calls=4)
    await queue(sessionmaker, [state_record(n, 1) for n in range(1, 6)] + [state_record(1, 3, 4)])
    w = worker(sessionmaker, portal)
    await drain(w)
    assert portal.held == {CODE.format(n): 4 if n == 1 else 2 for n in range(1, 6)}
    # 3 failures open it; the half-open trial (one dossier) fails and reopens it; then it closes.
    assert w.breaker.opened == 2 and w.breaker.state == "closed"
    async with sessionmaker() as session:
        ids = sorted(json.loads(v)["id"] for v in (await session.execute(select(outbox.c.value))).scalars())
        held = dict((await session.execute(select(SyncState.dossier_code, SyncState.revision))).tuples().all())
    assert ids == sorted([f"{CODE.format(1)}:s3"] + [f"{CODE.format(n)}:s1" for n in range(2, 6)])
    assert held[CODE.format(1)] == 3
    # A redelivered old revision is not queued again.
    await queue(sessionmaker, [state_record(1, 2)])
    async with sessionmaker() as session:
        assert (await backlog.counts(session, min_attempts=99))[0] == 0


async def test_a_revision_arriving_during_a_send_is_not_lost_and_goes_next(sessionmaker):
    portal = FakePortal()
    await queue(sessionmaker, [state_record(1, 1, 2)])

    async def newer_arrives():
        portal.during_call = None
        await queue(sessionmaker, [state_record(1, 5, 10)])

    async def held_record() -> tuple[int, str]:
        async with sessionmaker() as session:
            row = (await session.execute(select(SyncState.revision, SyncState.record))).one()
        return row.revision, row.record["record"]["TrangThaiHoSo"]

    portal.during_call = newer_arrives
    w = worker(sessionmaker, portal)
    await w.deliver_once()
    # The state holds the revision sent, with the record sent; the newer one waits in the backlog.
    assert await held_record() == (1, "2")
    async with sessionmaker() as session:
        assert (await backlog.counts(session, min_attempts=99))[0] == 1
    await drain(w)
    assert portal.sent == [CODE.format(1)] * 2 and portal.held == {CODE.format(1): 10}
    assert await held_record() == (5, "10")  # moved from the backlog with the revision sent


async def test_a_refused_dossier_is_parked_listed_and_can_be_requeued(sessionmaker):
    portal = FakePortal(refuse=frozenset({CODE.format(2)}))
    await queue(sessionmaker, [state_record(n, 1) for n in range(1, 4)])
    w = worker(sessionmaker, portal)
    await w.deliver_once()
    async with sessionmaker() as session:
        failing = await backlog.failures(session, min_attempts=8)
    assert [(f["dossier_code"], f["parked"]) for f in failing] == [(CODE.format(2), True)]
    assert "refused (fake)" in failing[0]["last_error"]
    assert await w.deliver_once() == 0  # parked: not retried by itself
    portal.refuse = frozenset()
    async with sessionmaker() as session, session.begin():
        assert await backlog.requeue(session, None, min_attempts=8) == 1
    await drain(w)
    assert set(portal.held) == {CODE.format(n) for n in range(1, 4)}


async def test_two_replicas_share_the_backlog_without_sending_a_dossier_twice(sessionmaker):
    portal = FakePortal()
    await queue(sessionmaker, [state_record(n, 1) for n in range(1, 401)])
    gate = asyncio.Event()

    async def slow():
        await asyncio.wait_for(gate.wait(), 5)

    portal.during_call = slow
    a, b = worker(sessionmaker, portal, portal_chunk=150), worker(sessionmaker, portal, portal_chunk=150)
    calls = [asyncio.create_task(w.deliver_once()) for w in (a, b, a)]
    await asyncio.sleep(0)  # let the three claims start before the portal answers
    gate.set()
    claimed = await asyncio.gather(*calls)
    # How the 400 split depends on timing (SKIP LOCKED passes over rows another claim holds);
    # what may not happen is a dossier claimed, or sent, twice.
    assert sum(claimed) == 400 and max(claimed) <= 150
    assert len(portal.sent) == len(set(portal.sent)) == 400


async def test_a_refusal_in_a_round_with_a_failed_call_is_parked_not_retried(sessionmaker):
    class PartlyFailing(FakePortal):
        async def sync(self, records, accepted):
            codes = [r["dossier_code"] for r in records]
            raise PortalError(
                "500 (fake)",
                taken=frozenset(codes[:1]),
                answered=True,
                refused={codes[1]: "5: status 4 cannot follow 10 (fake)"},
            )

    await queue(sessionmaker, [state_record(n, 1) for n in range(1, 4)])
    w = worker(sessionmaker, PartlyFailing())
    assert await w.deliver_once() == 3
    async with sessionmaker() as session:
        failing = {f["dossier_code"]: f for f in await backlog.failures(session, min_attempts=1)}
        held = set((await session.execute(select(SyncState.dossier_code))).scalars())
    assert held == {CODE.format(1)}  # delivered
    assert failing[CODE.format(2)]["parked"] and "cannot follow" in failing[CODE.format(2)]["last_error"]
    assert not failing[CODE.format(3)]["parked"]  # failed: retried with backoff
    assert w.breaker.failures == 0  # the portal answered: not an outage


def test_a_round_larger_than_intake_serves_identities_for_is_refused_naming_the_setting():
    # Intake reads at most 1,000 identities per call (services/intake/internal.py): a bigger round
    # would fail every delivery at run time; the setting is refused at start instead.
    with pytest.raises(ValueError, match="portal_chunk"):
        SyncSettings(portal_username="u", portal_password="p", portal_chunk=1001)
    assert SyncSettings(portal_username="u", portal_password="p", portal_chunk=1000).portal_chunk == 1000


async def test_a_claim_takes_no_more_than_its_limit_whatever_plan_the_database_picks(sessionmaker):
    await queue(sessionmaker, [state_record(n, 1) for n in range(1, 201)])
    async with sessionmaker() as session, session.begin():
        # The plan a young table's statistics can lead to: the due rows as the inner side of a
        # nested loop, run again for every row of the backlog.
        for setting in ("enable_hashagg", "enable_material", "enable_hashjoin", "enable_mergejoin", "enable_sort"):
            await session.execute(text(f"SET LOCAL {setting} = off"))
        claimed = await backlog.claim(session, limit=10, lease_seconds=30)
    assert len(claimed) == 10
    async with sessionmaker() as session:
        leased = await session.scalar(select(func.count()).where(SyncBacklog.leased_until.is_not(None)))
    assert leased == 10  # the other 190 stay due for the next round
