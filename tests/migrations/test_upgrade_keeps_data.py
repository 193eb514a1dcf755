"""Upgrade from the schema commit 587e2f2 left, with its data: every row, state and figure stays.

The rows are those a 587e2f2 deployment held after the end-to-end test's August dossiers
(data-587e2f2.sql, made by make_fixture.py), with the dossier states it served
(states-587e2f2.json). They are loaded into schemas at the baseline revision and upgraded to
head. Then the services at head serve them: every 587e2f2 row keeps its values, every dossier
its state, and the figures are those the same code computes from the same events processed
afresh (so a deliberate change of a formula moves both sides; a migration that loses or
mangles data, or leaves a new column unfilled, does not).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text

from deploy.launch import SERVICES, Stack, free_port
from deploy.quiescence import wait_until_quiet
from shared.db import make_engine
from shared.migrations import BASELINE, head, schema_revision, upgrade_schema
from shared.migrations import SERVICES as SCHEMA_SERVICES
from shared.topics import Topics, ensure_topics
from tests.conftest import DATABASE_URL, KAFKA, poll

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

HERE = Path(__file__).parent
SNAPSHOT = json.loads((HERE / "schema-587e2f2.json").read_text())
STATES = json.loads((HERE / "states-587e2f2.json").read_text())
# Columns a later revision replaces on purpose; the test checks that revision's conversion instead.
REPLACED = {("sync", "docsys_rejections", "envelope"): "sync 0004 keeps the first 4 KB, the sha256 and the size"}
# A rejected envelope as 587e2f2 stored it whole (5,000 bytes of Vietnamese text).
OLD_ENVELOPE = ("<edXML>" + "Quyết định " * 500).encode()[:5000]


async def load_587e2f2_rows(db, schemas: str) -> None:
    sql = (HERE / "data-587e2f2.sql").read_text()
    for service in SCHEMA_SERVICES:
        sql = sql.replace("{schema_" + service + "}", f'"{schemas}{service}"')
    async with db.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        await raw.execute(sql)  # many statements in one simple-protocol call


async def baseline_rows(db, schemas: str) -> dict[str, list]:
    """Every row of every 587e2f2 table, in its 587e2f2 columns, in key order."""
    rows = {}
    async with db.connect() as conn:
        for service, tables in SNAPSHOT.items():
            for table, shape in tables.items():
                names = [c.split(" ", 1)[0] for c in shape["columns"]]
                columns = ", ".join(f'"{n}"' for n in names if (service, table, n) not in REPLACED)
                result = await conn.execute(text(f'SELECT {columns} FROM "{schemas}{service}".{table} ORDER BY 1, 2'))
                rows[f"{service}.{table}"] = [tuple(r) for r in result]
    return rows


async def served_figures(client: httpx.AsyncClient, stack: Stack) -> dict:
    report = (await client.get(stack.url("metrics") + "/v1/indicators", params={"period": STATES["period"]})).json()
    return {"unit": report["unit"], "children": report["children"]}


async def figures_from_scratch(events: list[dict], db, schemas: str, tmp_path: Path) -> dict:
    """The figures this code serves after processing the same events in an empty deployment."""
    topics = Topics(f"{schemas}fresh.")
    await ensure_topics(KAFKA, topics, partitions=2)
    stack = Stack(
        run_dir=tmp_path / "fresh",
        database_url=DATABASE_URL,
        kafka_bootstrap=KAFKA,
        topic_prefix=topics.prefix,
        schema_prefix=f"{schemas}fresh_",
        ports={s.name: free_port() for s in SERVICES},
    )
    try:
        stack.start_all()
        async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": stack.api_key}) as client:
            posted = await client.post(stack.url("intake") + "/v1/events/batch", json=events)
            assert posted.json()["accepted"] == len(events), posted.text
            await wait_until_quiet(db, KAFKA, topics, f"{schemas}fresh_")
            return await served_figures(client, stack)
    finally:
        stack.stop_all()
        admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
        await admin.start()
        try:
            await admin.delete_topics(topics.all())
        finally:
            await admin.close()


async def test_upgrade_from_587e2f2_keeps_every_row_state_and_figure(db, topics, schemas, tmp_path):
    for service in SCHEMA_SERVICES:
        engine = make_engine(DATABASE_URL, f"{schemas}{service}", pool_size=1)
        await upgrade_schema(engine, f"{schemas}{service}", service, BASELINE)
        await engine.dispose()
    await load_587e2f2_rows(db, schemas)
    async with db.begin() as conn:
        await conn.execute(
            text(
                f'INSERT INTO "{schemas}sync".docsys_rejections (reason, envelope, received_at) '
                "VALUES ('bad signature', :e, now())"
            ),
            {"e": OLD_ENVELOPE},
        )
    before = await baseline_rows(db, schemas)
    assert len(before["processing.dossiers"]) == len(STATES["dossiers"])

    for service in SCHEMA_SERVICES:
        engine = make_engine(DATABASE_URL, f"{schemas}{service}", pool_size=1)
        await upgrade_schema(engine, f"{schemas}{service}", service)
        assert await schema_revision(engine, f"{schemas}{service}") == head(service)
        await engine.dispose()
    assert await baseline_rows(db, schemas) == before
    async with db.connect() as conn:
        kept = (
            await conn.execute(
                text(f'SELECT envelope_head, envelope_sha256, envelope_size FROM "{schemas}sync".docsys_rejections')
            )
        ).one()
    assert kept == (OLD_ENVELOPE[:4096], hashlib.sha256(OLD_ENVELOPE).hexdigest(), len(OLD_ENVELOPE))

    async with db.connect() as conn:
        accepted = [
            r.body
            for r in await conn.execute(text(f'SELECT body FROM "{schemas}intake".accepted_events ORDER BY time, id'))
        ]
    fresh = await figures_from_scratch(accepted, db, schemas, tmp_path)

    stack = Stack(
        run_dir=tmp_path / "run",
        database_url=DATABASE_URL,
        kafka_bootstrap=KAFKA,
        topic_prefix=topics.prefix,
        schema_prefix=schemas,
        ports={s.name: free_port() for s in SERVICES},
    )
    try:
        stack.start_all()
        headers = {"Authorization": f"Bearer {stack.reader_token}"}
        async with httpx.AsyncClient(timeout=30, headers=headers) as client:
            # The catalog-based components come from processing over HTTP and are re-read a few
            # seconds after a refused read (processing still starting): poll, then compare.
            served: list[dict] = []

            async def same_figures():
                served[:] = [await served_figures(client, stack)]
                return served[0] == fresh

            try:
                await poll(same_figures, 30, "the served figures equal those computed afresh")
            finally:
                assert served and served[0] == fresh  # shows the difference if the poll gave up
            for code, state in STATES["dossiers"].items():
                got = await client.get(stack.url("processing") + f"/v1/dossiers/{code}")
                assert got.json()["state"] == state, code
            # intake still knows every event: posting them again changes nothing. The source is now
            # the posting key's name (issue 13), so the same ids under another key are conflicts.
            again = (
                await client.post(
                    stack.url("intake") + "/v1/events/batch", json=accepted, headers={"X-API-Key": stack.api_key}
                )
            ).json()
            assert again["accepted"] == 0
            assert {r["status"] for r in again["results"]} <= {"duplicate", "conflict"}
            assert len(again["results"]) == len(accepted) == len(before["intake.accepted_events"])
    finally:
        stack.stop_all()
