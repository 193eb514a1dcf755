"""Writes data-587e2f2.sql and states-587e2f2.json: the rows a deployment of commit 587e2f2 held
after the end-to-end test's August dossiers went through it, and the dossier states it served.

Run once, at 587e2f2's schema (the baseline revision), against the test broker and database:

    .venv/bin/python -m tests.migrations.make_fixture

The upgrade test loads these rows into schemas at the baseline, upgrades them to head and checks
that the same rows and states come back (and the figures of the same events processed afresh).
Not a test itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import tempfile
import uuid
from pathlib import Path

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.launch import SERVICES, Stack, free_port
from deploy.quiescence import wait_until_quiet
from shared.migrations import SERVICES as SCHEMA_SERVICES
from shared.topics import Topics, ensure_topics
from tests.conftest import DATABASE_URL, KAFKA
from tests.e2e.test_pipeline import august_dossiers

HERE = Path(__file__).parent
PERIOD = "2026-08"


def pg_env(url: str) -> dict[str, str]:
    u = make_url(url)
    return dict(
        os.environ,
        PGHOST=u.host or "127.0.0.1",
        PGPORT=str(u.port or 5432),
        PGUSER=u.username or "",
        PGPASSWORD=u.password or "",
        PGDATABASE=u.database or "",
    )


def dump_rows(schema: str, service: str) -> str:
    """The schema's rows as INSERTs, its name replaced by a placeholder the test fills in."""
    sql = subprocess.run(
        [
            "pg_dump",
            "--data-only",
            "--column-inserts",
            "--no-owner",
            "--schema",
            schema,
            "--exclude-table",
            f"{schema}.alembic_version",
        ],
        env=pg_env(DATABASE_URL),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    sql = "\n".join(line for line in sql.splitlines() if line.startswith(("INSERT", "SELECT pg_catalog.setval")))
    return re.sub(rf"\b{re.escape(schema)}\b", "{schema_" + service + "}", sql) + "\n"


async def states(stack: Stack, codes: list[str]) -> dict:
    headers = {"Authorization": f"Bearer {stack.reader_token}"}
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        found = {
            code: (await client.get(stack.url("processing") + f"/v1/dossiers/{code}")).json()["state"] for code in codes
        }
    return {"period": PERIOD, "dossiers": found}


async def main() -> None:
    run = "fx" + uuid.uuid4().hex[:8]
    topics, schemas = Topics(f"{run}."), f"{run}_"
    await ensure_topics(KAFKA, topics, partitions=2)
    events = august_dossiers()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(
            run_dir=Path(tmp),
            database_url=DATABASE_URL,
            kafka_bootstrap=KAFKA,
            topic_prefix=topics.prefix,
            schema_prefix=schemas,
            ports={s.name: free_port() for s in SERVICES},
        )
        try:
            stack.start_all()
            async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": stack.api_key}) as client:
                posted = await client.post(stack.url("intake") + "/v1/events/batch", json=events)
                assert posted.status_code == 200, posted.text
            engine = create_async_engine(DATABASE_URL)
            await wait_until_quiet(engine, KAFKA, topics, schemas)
            codes = sorted({e["subject"] for e in events})
            (HERE / "states-587e2f2.json").write_text(
                json.dumps(await states(stack, codes), indent=1, ensure_ascii=False, sort_keys=True) + "\n"
            )
        finally:
            stack.stop_all()
    (HERE / "data-587e2f2.sql").write_text(
        "-- Rows of a 587e2f2 deployment (tests/migrations/make_fixture.py); {schema_<service>} is filled in.\n"
        + "".join(dump_rows(f"{schemas}{s}", s) for s in SCHEMA_SERVICES)
    )
    async with engine.begin() as conn:
        for s in SCHEMA_SERVICES:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schemas}{s}" CASCADE'))
    await engine.dispose()
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await admin.delete_topics(topics.all())
    finally:
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
