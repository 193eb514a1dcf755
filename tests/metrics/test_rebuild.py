"""The rebuild (services.metrics.rebuild) gives the figures the live consumer gives, from the topics.

The generated history of test_rollups (revisions out of order, duplicates, sync outcomes before and
after their states) plus a malformed message goes onto the test's topics; the live handler applies
it batch by batch into one schema, the rebuild reads the topics into another. Facts, rollups and
open-dossier summaries are the same, and the rebuilt schema's consumer offsets are the topics' ends.
"""

from __future__ import annotations

import json
import random

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from services.metrics.config import MetricsSettings
from services.metrics.handlers import ACCEPTS, handle_canonical_batch
from services.metrics.rebuild import rebuild
from services.metrics.rollups import fold
from tests.conftest import DATABASE_URL, KAFKA, consumed
from tests.metrics.test_rollups import KEYS, history, metrics_db, tables  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration


async def test_rebuild_equals_the_live_projection(metrics_db, topics, schemas):  # noqa: F811
    records = history(random.Random(11), 300)
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, enable_idempotence=True)
    await producer.start()
    try:
        for r in records:
            event = json.loads(r.value)
            topic = topics.lifecycle if event["type"] == "dossier.state" else topics.portal_sync
            await producer.send(topic, r.value, key=event["subject"].encode())
        await producer.send(topics.lifecycle, b'{"type": "dossier.state", "data": {}}', key=b"bad")
        await producer.flush()
    finally:
        await producer.stop()
    for at in range(0, len(records), 97):  # live: batch by batch, in delivery order
        async with metrics_db() as session, session.begin():
            await handle_canonical_batch(session, consumed(records[at : at + 97], ACCEPTS))
    async with metrics_db() as session, session.begin():
        await fold(session)  # what the live service does every second: the buckets hold every change

    settings = MetricsSettings(
        database_url=DATABASE_URL, kafka_bootstrap=KAFKA, topic_prefix=topics.prefix, db_schema=f"{schemas}rebuilt"
    )
    result = await rebuild(settings, workers=2)
    assert result["rejected"] == 1 and result["messages"] == len(records) + 1

    async with metrics_db() as session:
        live = await tables(session)
        live_facts = (await session.execute(text("SELECT * FROM dossier_facts ORDER BY dossier_code"))).all()
        live_synced = (await session.execute(text("SELECT * FROM portal_sync_facts ORDER BY dossier_code"))).all()
        rebuilt_facts = (
            await session.execute(text(f'SELECT * FROM "{schemas}rebuilt".dossier_facts ORDER BY dossier_code'))
        ).all()
        rebuilt_synced = (
            await session.execute(text(f'SELECT * FROM "{schemas}rebuilt".portal_sync_facts ORDER BY dossier_code'))
        ).all()
        await session.execute(text(f'SET search_path TO "{schemas}rebuilt"'))
        rebuilt = await tables(session)
        offsets = (await session.execute(text("SELECT topic, sum(next_offset) FROM consumer_offsets GROUP BY 1"))).all()
    assert result["dossiers"] == len(live_facts) == 300
    assert rebuilt_facts == live_facts and rebuilt_synced == live_synced
    for name, rows in live.items():  # buckets emptied by a move stay live, with zeros
        assert rebuilt[name] == [r for r in rows if any(r[KEYS[name] :])], name
    states = sum(1 for r in records if b'"dossier.state"' in r.value) + 1
    assert dict(offsets) == {topics.lifecycle: states, topics.portal_sync: len(records) + 1 - states}
