"""Fixtures for integration tests: the real broker and database, with per-test topics and schemas."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.launch import SERVICES, Stack, free_port
from shared.topics import Topics, ensure_topics

KAFKA = os.environ.get("TEST_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://dossier:dossier@127.0.0.1:55432/dossier")


@pytest.fixture
def run_id() -> str:
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
async def topics(run_id):
    """Fresh topics for this test, deleted afterwards."""
    created = Topics(f"{run_id}.")
    await ensure_topics(KAFKA, created, partitions=2)
    yield created
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await admin.delete_topics(created.all())
    finally:
        await admin.close()


@pytest.fixture
async def db():
    engine = create_async_engine(DATABASE_URL)
    yield engine
    await engine.dispose()


@pytest.fixture
async def schemas(run_id, db):
    """The schema prefix for this test; every schema with it is dropped afterwards."""
    prefix = f"{run_id}_"
    yield prefix
    async with db.begin() as conn:
        names = await conn.execute(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": prefix + "%"})
        for (name,) in names.all():
            await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))


async def publish(topic: str, events: list[dict]) -> None:
    """Put events straight on a topic, keyed by dossier, as a relay (or a redelivery) would."""
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, enable_idempotence=True)
    await producer.start()
    try:
        for e in events:
            await producer.send(topic, json.dumps(e).encode(), key=e["subject"].encode())
        await producer.flush()
    finally:
        await producer.stop()


def consumed(records, accepts) -> list:
    """Records as the batch consumer hands them to a handler (shared.consumer.decode); each must
    be a valid event of an accepted type, as the tests that call handlers directly expect."""
    from shared.consumer import Message, decode

    messages = [decode(r, accepts, "test") for r in records]
    refused = [m for m in messages if not isinstance(m, Message)]
    assert not refused, refused
    return messages


async def poll(check, timeout: float = 30, what: str = "condition"):
    """Await check() until it returns something truthy (returned), or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.1)  # poll interval, bounded by the deadline
    pytest.fail(f"{what} not met within {timeout:.0f} s")


async def dead_letters(topic: str, expected: int, timeout: float = 30) -> list[dict]:
    """Read a dead-letter topic until `expected` letters came (from any partition) or the deadline."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=KAFKA, auto_offset_reset="earliest")
    await consumer.start()
    letters: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while len(letters) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=100)
            letters += [json.loads(r.value) for rs in batch.values() for r in rs]
        return letters
    finally:
        await consumer.stop()


def targets_file(directory: Path) -> Path:
    """A targets file for the stacks: the shipped file has 2025's targets only, while the tests post
    dossiers of 2026 and of the current year; both get Plan 617's 2025 targets here."""
    from services.metrics.targets import DEFAULT_TARGETS

    table = json.loads(DEFAULT_TARGETS.read_text(encoding="utf-8"))
    for year in {"2026", str(datetime.now(UTC).year)}:
        table["years"][year] = dict(table["years"]["2025"], plan="Test copy of Plan 617's 2025 targets")
    path = directory / "targets.json"
    path.write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def stack(tmp_path, topics, schemas):
    """All five services as separate processes, on free ports, with this test's topics/schemas."""
    running = Stack(
        run_dir=tmp_path / "run",
        database_url=DATABASE_URL,
        kafka_bootstrap=KAFKA,
        topic_prefix=topics.prefix,
        schema_prefix=schemas,
        ports={s.name: free_port() for s in SERVICES},
        # The tests post 2026 dossiers; the shipped targets file has 2025's targets only.
        extra_env={"metrics": {"METRICS_TARGETS_PATH": str(targets_file(tmp_path))}},
    )
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()
