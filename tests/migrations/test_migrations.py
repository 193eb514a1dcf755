"""The services' schemas under Alembic: the baseline is commit 587e2f2's schema, the models match
the head, start-up builds an empty schema (safely, twice at once) and refuses one that is not
current until `upgrade` runs."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from deploy.migrate import differences
from shared import migrations
from shared.db import create_schema, make_engine
from shared.migrations import (
    BASELINE,
    SERVICES,
    SchemaNotCurrent,
    head,
    prepare_schema,
    schema_revision,
    upgrade_schema,
)
from tests.conftest import DATABASE_URL
from tests.migrations.snapshot import snapshot

pytestmark = pytest.mark.integration

SNAPSHOT_587E2F2 = json.loads((Path(__file__).parent / "schema-587e2f2.json").read_text())


@pytest.fixture
async def engines(schemas):
    """One engine per service, on this test's schemas."""
    made = {s: make_engine(DATABASE_URL, f"{schemas}{s}", pool_size=2) for s in SERVICES}
    yield made
    for engine in made.values():
        await engine.dispose()


async def test_baseline_is_the_schema_of_587e2f2(engines, schemas):
    for service, engine in engines.items():
        await upgrade_schema(engine, f"{schemas}{service}", service, BASELINE)
        async with engine.connect() as conn:
            built = await snapshot(conn, f"{schemas}{service}")
        assert built == SNAPSHOT_587E2F2[service], f"{service}'s baseline differs from 587e2f2's create_all"


@pytest.mark.parametrize("service", SERVICES)
async def test_models_match_the_migrations_head(service, schemas):
    """Fails when a model changed without a revision: write one (docs/operations.md)."""
    assert await differences(DATABASE_URL, service) == [], (
        f"{service}'s models differ from its migrations' head: "
        f"python -m deploy.migrate revision --service {service} -m '...'"
    )


async def test_two_starts_at_once_build_an_empty_schema_once(engines, schemas):
    for service, engine in engines.items():
        schema = f"{schemas}{service}"
        await asyncio.gather(prepare_schema(engine, schema, service), prepare_schema(engine, schema, service))
        assert await schema_revision(engine, schema) == head(service)
        async with engine.connect() as conn:
            assert await snapshot(conn, schema) == await _snapshot_at_head(service, schemas)


async def _snapshot_at_head(service: str, schemas: str) -> dict:
    schema = f"{schemas}reference_{service}"
    engine = make_engine(DATABASE_URL, schema, pool_size=1)
    try:
        await upgrade_schema(engine, schema, service)
        async with engine.connect() as conn:
            return await snapshot(conn, schema)
    finally:
        await engine.dispose()


async def test_a_create_all_schema_from_before_migrations_counts_as_the_baseline(engines, schemas):
    from deploy.migrate import metadata

    engine, schema = engines["processing"], f"{schemas}processing"
    await create_schema(engine, schema, *metadata("processing"))  # as 587e2f2 started a service
    # ... with 587e2f2's tables only: today's models hold tables later revisions add.
    baseline_tables = set(json.loads((Path(__file__).parent / "schema-587e2f2.json").read_text())["processing"])
    async with engine.begin() as conn:
        for table in reversed(metadata("processing")[-1].sorted_tables):
            if table.name not in baseline_tables:
                await conn.execute(text(f'DROP TABLE "{schema}"."{table.name}"'))
    assert await schema_revision(engine, schema) == BASELINE
    before, after = await upgrade_schema(engine, schema, "processing")
    assert (before, after) == (BASELINE, head("processing"))
    await prepare_schema(engine, schema, "processing")


@pytest.fixture
def next_revision(tmp_path, monkeypatch):
    """The real migrations plus one more (a column on dossiers), as the next release would bring."""
    location = tmp_path / "processing"
    shutil.copytree(migrations.script_location("processing"), location)
    current = head("processing")
    new = f"{int(current) + 1:04d}"
    (location / "versions" / f"{new}_test.py").write_text(
        f"import sqlalchemy as sa\nfrom alembic import op\n"
        f"revision = {new!r}\ndown_revision = {current!r}\nbranch_labels = None\ndepends_on = None\n\n"
        "def upgrade():\n    op.add_column('dossiers', sa.Column('test_note', sa.String(20), nullable=True))\n\n"
        "def downgrade():\n    op.drop_column('dossiers', 'test_note')\n"
    )
    monkeypatch.setattr(migrations, "script_location", lambda service: location)
    return current, new


async def test_a_schema_behind_refuses_the_start_until_upgraded(engines, schemas, next_revision, caplog):
    old, new = next_revision
    engine, schema = engines["processing"], f"{schemas}processing"
    await upgrade_schema(engine, schema, "processing", old)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO dossiers (code, unit_code, status, revision, overdue_pending, state) "
                "VALUES ('H44.1-241001-0001', 'H44.1', 2, 3, false, '{}')"
            )
        )
    with pytest.raises(SchemaNotCurrent, match=f"at revision {old}, this code needs {new}.*deploy upgrade"):
        await prepare_schema(engine, schema, "processing")
    assert "refusing to start" in caplog.text
    assert await schema_revision(engine, schema) == old  # refusing changed nothing

    assert await upgrade_schema(engine, schema, "processing") == (old, new)
    await prepare_schema(engine, schema, "processing")
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT code, revision, test_note FROM dossiers"))).one()
    assert tuple(row) == ("H44.1-241001-0001", 3, None)


async def test_a_schema_ahead_of_the_code_refuses_the_start(engines, schemas):
    engine, schema = engines["metrics"], f"{schemas}metrics"
    await upgrade_schema(engine, schema, "metrics")
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaNotCurrent, match="9999.*ahead of this code"):
        await prepare_schema(engine, schema, "metrics")


@pytest.mark.e2e
async def test_a_service_process_on_a_schema_behind_exits_saying_why(tmp_path, topics, schemas):
    """The real process: it logs why and exits (systemd retries it until `upgrade` ran)."""
    from deploy.launch import SERVICES as PROCESSES
    from deploy.launch import Stack, free_port
    from tests.conftest import KAFKA

    engine = make_engine(DATABASE_URL, f"{schemas}sync", pool_size=1)
    try:
        await upgrade_schema(engine, f"{schemas}sync", "sync", BASELINE)  # sync's head is beyond it
    finally:
        await engine.dispose()
    stack = Stack(
        run_dir=tmp_path,
        database_url=DATABASE_URL,
        kafka_bootstrap=KAFKA,
        topic_prefix=topics.prefix,
        schema_prefix=schemas,
        ports={s.name: free_port() for s in PROCESSES},
    )
    stack.start("sync")
    try:
        with pytest.raises(RuntimeError, match="sync exited"):
            stack.wait_ready("sync", timeout=60)
    finally:
        stack.stop("sync")
    log = (tmp_path / "sync.log").read_text()
    assert f"schema {schemas}sync is at revision {BASELINE}, this code needs {head('sync')} (behind)" in log
    assert "python -m deploy upgrade" in log


async def test_sync_0003_refuses_while_old_records_wait_in_the_backlog(engines, schemas):
    engine, schema = engines["sync"], f"{schemas}sync"
    await upgrade_schema(engine, schema, "sync", "0002")
    async with engine.begin() as conn:  # queued by the older sync: the record in the old format
        await conn.execute(
            text(
                "INSERT INTO sync_backlog (dossier_code, revision, status, record, attempts, parked) "
                "VALUES ('H44.1-241001-0001', 2, 2, '{\"MaHoSo\": \"H44.1-241001-0001\"}', 0, false)"
            )
        )
    with pytest.raises(RuntimeError, match="1 dossier revisions wait in sync_backlog"):
        await upgrade_schema(engine, schema, "sync", "0003")
    assert await schema_revision(engine, schema) == "0002"  # nothing changed
    async with engine.begin() as conn:  # the older version delivered it
        await conn.execute(text("DELETE FROM sync_backlog"))
    assert await upgrade_schema(engine, schema, "sync", "0003") == ("0002", "0003")
