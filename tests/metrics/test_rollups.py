"""Every figure read from the rollups equals the figure aggregated from the facts table (and the
Prometheus gauges computed from the rollups show them).

Generated dossiers go through the metrics consumer's handler as a topic would deliver them:
several revisions each (a later one may move the dossier to another unit, procedure, channel or
day of reception, or reopen nothing but change its verdict), portal sync outcomes before and after
the states they confirm, duplicates, and out-of-order batches. Then, for periods of every shape
(month, quarter, year, day ranges across month and year ends, ten years) and judging times before,
inside and after them, the counts from the rollups (with the open dossiers judged at query time)
equal those from the facts, per unit, procedure and channel; and the rollups kept batch by batch
equal the rollups rebuilt from the facts.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from services.metrics.aggregates import count, count_from_facts, count_months, roll_up
from services.metrics.gauges import HEADLINE, refresh
from services.metrics.handlers import ACCEPTS, handle_canonical_batch
from services.metrics.models import Base
from services.metrics.periods import TZ, date_range, months_until, parse_period
from services.metrics.reports import Options, row
from services.metrics.rollups import ensure_rollups, fold, rebuild_rollups
from shared.db import create_schema, make_engine, make_sessionmaker
from shared.event_types import DossierState
from shared.tables import PLUMBING
from shared.units import load_units
from tests.conftest import DATABASE_URL, consumed

pytestmark = pytest.mark.integration

UNITS = ["H44", "H44.07", "H44.100", "H44.101", "H44.102"]
PROCEDURES = ["1.000894", "2.001035", "1.001612", "2.000908"]
START = datetime(2025, 11, 1, tzinfo=TZ)  # reception spans 2025-11 to 2027-01: a year end inside
TEMPLATE = DossierState(
    dossier_code="-", unit_code="H44", procedure_code="1.000894", channel=2, status=4, revision=1
).model_dump(mode="json")


def state(rng: random.Random, code: str, revision: int, received: datetime | None) -> dict:
    deadline = received + timedelta(days=rng.randint(-3, 20)) if received else None
    on_time = rng.choice([True, False, None, None])
    return dict(
        TEMPLATE,
        dossier_code=code,
        revision=revision,
        # A later revision may correct the unit, procedure or channel.
        unit_code=rng.choice(UNITS),
        procedure_code=rng.choice(PROCEDURES),
        channel=rng.randint(1, 3),
        status=9 if on_time is not None else rng.choice([2, 4, 5]),
        handling_time=rng.choice([None, 1.25, 4.0]) if on_time is not None else None,
        received_at=received.isoformat() if received else None,
        deadline_at=deadline.isoformat() if deadline else None,
        on_time=on_time,
        components=1,
        components_digitized=rng.randint(0, 1),
        result_digitized=rng.random() < 0.6,
        components_reused=rng.randint(0, 1),
        electronic_result=rng.random() < 0.5,
        result_is_document=rng.random() < 0.3,
        document_number=rng.choice([None, "12/QĐ-UBND"]),
        uses_personal_data_store=rng.random() < 0.3,
        uses_population_data=rng.random() < 0.3,
        has_fee=rng.random() < 0.4,
        paid_online=rng.random() < 0.5,
        feedback=(fb := rng.choice([0, 0, 0, 1, 2])),
        feedback_handled_on_time=rng.randint(0, fb),
        feedback_satisfied=rng.randint(0, fb),
        disliked=rng.random() < 0.1,
        procedure=rng.choice(
            [
                None,
                {
                    "field": "Hộ tịch",
                    "online": rng.choice(["full", "partial", "none"]),
                    "has_fee": rng.random() < 0.5,
                    "online_payment": rng.random() < 0.5,
                    "fee_data_synced": rng.random() < 0.5,
                    "population_data_connected": rng.random() < 0.5,
                    "time_unit": rng.choice(["working_days", "calendar_days", "hours", "months"]),
                },
            ]
        ),
    )


def event(data: dict, kind: str, subject: str) -> SimpleNamespace:
    return SimpleNamespace(
        value=json.dumps(
            {
                "id": f"{subject}:{kind}:{data['revision']}:{data.get('ok', '')}",
                "type": kind,
                "version": 1,
                "source": "processing",
                "subject": subject,
                "time": datetime.now(UTC).isoformat(),
                "data": data,
            }
        ).encode()
    )


def history(rng: random.Random, dossiers: int) -> list[SimpleNamespace]:
    """Each dossier's revisions and sync outcomes, shuffled, with some delivered twice."""
    out = []
    for i in range(dossiers):
        code = f"H44.100-251101-{i:06d}"
        received = START + timedelta(minutes=rng.randint(0, 430 * 24 * 60))
        if rng.random() < 0.1:  # the last minutes of a local month or year: bucket edges
            received = received.replace(day=1, hour=23, minute=59) - timedelta(days=1)
        for revision in range(1, rng.randint(2, 5)):
            # Reception may be corrected by a later revision (another day), or not be known yet.
            moved = received + timedelta(days=rng.choice([0, 0, 0, 1, 40]))
            out.append(
                event(
                    state(rng, code, revision, moved if revision > 1 or rng.random() < 0.8 else None),
                    "dossier.state",
                    code,
                )
            )
            if rng.random() < 0.5:
                out.append(event({"status": 4, "revision": revision, "ok": rng.random() < 0.8}, "dossier.synced", code))
    out += rng.sample(out, len(out) // 10)  # redeliveries
    rng.shuffle(out)
    return out


@pytest.fixture
async def metrics_db(schemas):
    schema = f"{schemas}metrics"
    engine = make_engine(DATABASE_URL, schema)
    await create_schema(engine, schema, PLUMBING, Base.metadata)
    yield make_sessionmaker(engine)
    await engine.dispose()


def periods(rng: random.Random) -> list:
    fixed = [parse_period(p) for p in ("2025-11", "2025-12", "2026-01", "2026-Q1", "2026", "2027-01", "2026-Q4")]
    ranges = [date_range(date(2016, 1, 1), date(2026, 12, 31)), date_range(date(2025, 12, 31), date(2026, 1, 1))]
    for _ in range(6):
        first = date(2025, 11, 1) + timedelta(days=rng.randint(0, 420))
        ranges.append(date_range(first, first + timedelta(days=rng.randint(0, 200))))
    return fixed + ranges


def same(a: dict, b: dict) -> bool:
    keys = a.keys() | b.keys()
    return all(
        (a[k].values, a[k].procedures) == (b[k].values, b[k].procedures) for k in keys if k in a and k in b
    ) and all((a.get(k) or b.get(k)).values["received"] == 0 for k in keys if (k in a) != (k in b))


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_rollups_equal_the_facts(metrics_db, seed):
    rng = random.Random(seed)
    records = history(rng, 250)
    at = 0
    while at < len(records):
        size = rng.randint(1, 60)
        async with metrics_db() as session, session.begin():
            assert await handle_canonical_batch(session, consumed(records[at : at + size], ACCEPTS)) == []
            if rng.random() < 0.3 and at + size < len(records):  # the fold runs after some batches, not the last
                await fold(session)
        at += size

    # Read with changes still pending (the last batch's at least), then with every change folded.
    async with metrics_db() as session:
        assert (await session.execute(text("SELECT count(*) FROM rollup_day_changes"))).scalar() > 0
        await compare_with_the_facts(session, rng)
    rebuilt = await fold_and_compare_with_a_rebuild(metrics_db, rng)
    assert len(rebuilt["open_rollups"]) > 10


async def test_a_fold_neither_waits_for_a_batch_nor_loses_its_changes(metrics_db):
    """A batch's changes committed while a fold runs are neither summed by it nor deleted: the next
    fold takes them. The fold does not wait for the batch's tracking lock either."""
    records = history(random.Random(7), 80)
    half = len(records) // 2
    async with metrics_db() as session, session.begin():
        await handle_canonical_batch(session, consumed(records[:half], ACCEPTS))
        first = (await session.execute(text("SELECT count(*) FROM rollup_day_changes"))).scalar()
    async with metrics_db() as batch:
        async with batch.begin():
            await handle_canonical_batch(batch, consumed(records[half:], ACCEPTS))  # holds the lock
            waiting = (await batch.execute(text("SELECT count(*) FROM rollup_day_changes"))).scalar() - first
            async with metrics_db() as session, session.begin():
                await asyncio.wait_for(fold(session), 30)  # (it waited for the batch's commit before)
        # committed after the fold: its changes wait for the next one
    async with metrics_db() as session:
        assert (await session.execute(text("SELECT count(*) FROM rollup_day_changes"))).scalar() == waiting > 0
        assert (await session.execute(text("SELECT count(*) FROM rollups"))).scalar() > 0
    await fold_and_compare_with_a_rebuild(metrics_db, random.Random(7))


async def fold_and_compare_with_a_rebuild(metrics_db, rng: random.Random) -> dict[str, list]:
    """Fold every pending change; then the counts equal the facts', and the rollups kept batch by
    batch equal those rebuilt from the facts (returned)."""
    async with metrics_db() as session, session.begin():
        await fold(session)
    async with metrics_db() as session:
        assert (await session.execute(text("SELECT count(*) FROM rollup_day_changes"))).scalar() == 0
        await compare_with_the_facts(session, rng)
        kept = await tables(session)
    async with metrics_db() as session, session.begin():
        await rebuild_rollups(session)
        rebuilt = await tables(session)
    for name, rows in kept.items():  # rows whose sums fell to zero may stay in the buckets
        assert [r for r in rows if any(r[KEYS[name] :])] == rebuilt[name], name
    return rebuilt


async def compare_with_the_facts(session, rng: random.Random) -> None:
    """Every count read from the rollups (as of now) equals the count from the facts."""
    open_dossiers = (
        await session.execute(
            text("SELECT count(*) FROM dossier_facts WHERE on_time IS NULL AND received_at IS NOT NULL")
        )
    ).scalar()
    assert open_dossiers > 20  # the time-dependent part is exercised
    compared = 0
    for period in periods(rng):
        for judged in (
            period.start - timedelta(days=3),
            period.start + (period.end - period.start) / 2,
            period.end,
            period.end + timedelta(days=30),
        ):
            for by in ("unit", "procedure", "channel"):
                for unit in (None, "H44.100"):
                    live = await count(session, period, judged, by=by, unit=unit)
                    reference = await count_from_facts(session, period, judged, by=by, unit=unit)
                    assert same(live, reference), (period.label, judged, by, unit)
                    compared += sum(c["received"] for c in reference.values())
    assert compared > 1000  # the periods hold dossiers

    # The trend: every month's figures of a unit and the units below it, in one go.
    months = months_until(parse_period("2027-01"), 16)
    for now in (datetime(2026, 3, 10, tzinfo=TZ), datetime(2027, 6, 1, tzinfo=TZ)):
        for unit in ("H44", "H44.100"):
            trend = await count_months(session, months, now, unit=unit)
            for month in months:
                expected = roll_up(await count_from_facts(session, month, min(now, month.end)), load_units())
                assert same(
                    {unit: trend[month.label]} if month.label in trend else {},
                    {unit: expected[unit]} if unit in expected else {},
                ), (month.label, now, unit)


# table -> how many key columns its rows start with
KEYS = {"rollups": 5, "unit_rollups": 3, "procedure_rollups": 4, "open_rollups": 3}


async def tables(session) -> dict[str, list]:
    """Each table's rows, keys first and the columns in the models' order: a schema built by the
    migrations has later columns at the end, one built from the models has them in place."""
    out = {}
    for name, keys in KEYS.items():
        columns = ", ".join(f'"{c.name}"' for c in Base.metadata.tables[name].columns)
        order = ", ".join(map(str, range(1, keys + 1)))
        out[name] = (await session.execute(text(f"SELECT {columns} FROM {name} ORDER BY {order}"))).all()
    return out


async def test_rollups_are_rebuilt_when_their_counters_change(metrics_db):
    rng = random.Random(7)
    async with metrics_db() as session, session.begin():
        await handle_canonical_batch(session, consumed(history(rng, 40), ACCEPTS))
    month = parse_period("2026-03")
    async with metrics_db() as session, session.begin():
        await session.execute(text("UPDATE rollups SET received = received + 1000"))  # stale
        await session.execute(text("INSERT INTO rollup_definition VALUES (1, 'older counters')"))
        await ensure_rollups(session)
    async with metrics_db() as session:
        judged = month.end
        assert same(await count(session, month, judged), await count_from_facts(session, month, judged))
        assert (await session.execute(text("SELECT max(received) FROM rollups"))).scalar() < 1000


async def test_prometheus_gauges_show_the_current_months_figures(metrics_db):
    async with metrics_db() as session, session.begin():
        await handle_canonical_batch(session, consumed(history(random.Random(5), 200), ACCEPTS))
    now = datetime(2026, 3, 20, 10, tzinfo=UTC)
    await refresh(metrics_db, Options(), now=now)
    month = parse_period("2026-03")
    async with metrics_db() as session:
        totals = roll_up(await count_from_facts(session, month, now), load_units())
    checked = 0
    for unit, counts in totals.items():
        if not counts["received"]:
            continue
        expected = row(unit, counts, Options(), load_units())
        for indicator, rate in HEADLINE.items():
            value = REGISTRY.get_sample_value("dossier_indicator_ratio", {"unit": unit, "indicator": indicator})
            assert value == expected["rates"][rate]["ratio"], (unit, indicator)
            checked += 1
        assert REGISTRY.get_sample_value("dossier_index766_score", {"unit": unit}) == expected["index"]["score"]
    assert checked >= 10 and REGISTRY.get_sample_value("dossier_indicator_month") == 202603
    # Bounded labels: units × indicators, whatever the number of dossiers or months.
    samples = [s for m in REGISTRY.collect() if m.name == "dossier_indicator_ratio" for s in m.samples]
    assert len(samples) <= len(load_units().units) * len(HEADLINE)
