"""deploy/quiescence.py: busy() answers what a non-empty pending() would, for every kind of work
in flight (an outbox row, a queued dossier, a deadline due, an unconsumed message), including a
live row behind many deleted ones (where the cheap check reads an index, the count the table)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from deploy.quiescence import PUBLISHERS, InFlight
from shared.db import make_engine
from shared.migrations import prepare_schema
from tests.conftest import DATABASE_URL, KAFKA

pytestmark = pytest.mark.integration


async def agree(in_flight: InFlight) -> dict[str, int]:
    pending = await in_flight.pending()
    assert await in_flight.busy() == bool(pending), pending
    return pending


async def test_busy_agrees_with_pending_for_each_kind_of_work(db, topics, schemas):
    for service in PUBLISHERS:  # each service's tables, as its migrations make them
        engine = make_engine(DATABASE_URL, f"{schemas}{service}")
        try:
            await prepare_schema(engine, f"{schemas}{service}", service)
        finally:
            await engine.dispose()
    sync, intake, processing = (f'"{schemas}{s}"' for s in ("sync", "intake", "processing"))
    async with InFlight(db, KAFKA, topics, schemas) as in_flight:
        assert await agree(in_flight) == {}

        async with db.begin() as conn:  # 1,000 rows through the outbox; the last still there
            await conn.execute(
                text(
                    f"INSERT INTO {intake}.outbox (topic, key, value) SELECT 't', 'k', '' FROM generate_series(1, 1000)"
                )
            )
            await conn.execute(text(f"DELETE FROM {intake}.outbox WHERE id < (SELECT max(id) FROM {intake}.outbox)"))
        assert await agree(in_flight) == {"intake outbox": 1}
        async with db.begin() as conn:
            await conn.execute(text(f"DELETE FROM {intake}.outbox"))
        assert await agree(in_flight) == {}

        async with db.begin() as conn:
            await conn.execute(
                text(
                    f"INSERT INTO {sync}.sync_backlog (dossier_code, revision, status, record, attempts, parked) "
                    "VALUES ('H44.100-260810-0001', 1, 1, '{}', 0, false)"
                )
            )
        assert await agree(in_flight) == {"sync sync_backlog": 1}
        async with db.begin() as conn:
            await conn.execute(text(f"DELETE FROM {sync}.sync_backlog"))

        due = datetime.now(UTC) - timedelta(minutes=1)
        async with db.begin() as conn:
            await conn.execute(
                text(
                    f"INSERT INTO {processing}.dossiers (code, unit_code, status, revision, due_at, deadline_at, "
                    "overdue_pending, state) VALUES ('H44.100-260810-0002', 'H44.100', 2, 1, :due, :due, true, '{}')"
                ),
                {"due": due},
            )
        assert await agree(in_flight) == {"processing deadlines due": 1}
        async with db.begin() as conn:
            await conn.execute(text(f"UPDATE {processing}.dossiers SET overdue_pending = false"))
        assert await agree(in_flight) == {}

        producer = AIOKafkaProducer(bootstrap_servers=KAFKA)
        await producer.start()
        try:
            await producer.send_and_wait(topics.lifecycle, b"{}", key=b"H44.100-260810-0003")
        finally:
            await producer.stop()
        assert await agree(in_flight) == {"sync lag": 1, "metrics lag": 1}  # both consume lifecycle
