"""A known identity number and name go through intake to the national portal's record, and are
found nowhere else: no topic, no log, no table (the encrypted store holds them sealed only).

The six processes run as in production (deploy.launch), on the real broker and database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from deploy.launch import SERVICES, Stack
from services.sync.portal.codec import Dialect
from shared.units import load_units
from simulators.counter.events import EventFactory
from tests.conftest import DATABASE_URL, KAFKA, free_port, poll

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
CCCD, NAME = "038190004217", "Lê Thị Quỳnh Hương"
CODE = "H44.100-260821-00042"


@pytest.fixture
def stack(tmp_path, topics, schemas):
    running = Stack(
        run_dir=tmp_path / "run",
        database_url=DATABASE_URL,
        kafka_bootstrap=KAFKA,
        topic_prefix=topics.prefix,
        schema_prefix=schemas,
        ports={s.name: free_port() for s in SERVICES},
    )
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


async def everything_on(topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=KAFKA, auto_offset_reset="earliest")
    await consumer.start()
    try:
        values: list[bytes] = []
        while batch := await consumer.getmany(timeout_ms=2000):
            values += [r.value for rs in batch.values() for r in rs]
        return values
    finally:
        await consumer.stop()


async def every_row(db, schemas: str) -> dict[str, list[str]]:
    """Every row of every table of this test's schemas, as text."""
    rows: dict[str, list[str]] = {}
    async with db.connect() as conn:
        tables = (
            await conn.execute(
                text("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema LIKE :p"),
                {"p": schemas + "%"},
            )
        ).all()
        for schema, table in tables:
            every = await conn.execute(text(f'SELECT t::text FROM "{schema}"."{table}" t'))
            rows[f"{schema}.{table}"] = list(every.scalars().all())
    return rows


async def test_the_applicant_is_named_on_the_portal_and_nowhere_else(stack, topics, schemas, db):
    f = EventFactory("motcua-test")
    at = datetime.now(UTC) - timedelta(hours=2)
    opening = f.received(CODE, at, unit="H44.100", procedure="1.000894", channel=1)
    opening["data"]["applicant"] = {"id_number": CCCD, "name": NAME}
    events = [opening, f.processed(CODE, at + timedelta(hours=1))]
    national = Dialect(load_units()).national_code(CODE)
    async with httpx.AsyncClient(timeout=10) as client:
        posted = await client.post(
            stack.url("intake") + "/v1/events/batch", json=events, headers={"X-API-Key": stack.api_key}
        )
        assert posted.status_code == 200, posted.text

        async def held():
            answer = await client.get(f"{stack.url('portal-simulator')}/admin/dossiers/{national}")
            return answer.status_code == 200 and answer.json()["record"]["TrangThaiHoSo"] == "9" and answer.json()

        record = (await poll(held, timeout=60, what="the portal holding the processed dossier"))["record"]
        assert (record["SoGiayToChuHoSo"], record["ChuHoSo"]) == (CCCD, NAME)
        assert record["DinhDanhCHS"] == [{"LoaiDinhDanh": "1", "SoDinhDanh": CCCD}]
        log = await client.get(
            stack.url("intake") + "/v1/applicants/access-log",
            params={"dossier_code": CODE},
            headers={"Authorization": f"Bearer {stack.operator_token}"},
        )
        assert log.status_code == 200 and {r["who"] for r in log.json()} == {"sync"}
        assert {r["purpose"] for r in log.json()} == {"portal-sync"}
        # A code PostgreSQL cannot even compare (a NUL byte; found by the fuzzer as a 500).
        bad = await client.get(
            stack.url("intake") + "/v1/applicants/access-log",
            params={"dossier_code": CODE + "\x00"},
            headers={"Authorization": f"Bearer {stack.operator_token}"},
        )
        assert bad.status_code == 422 and "dossier_code" in bad.text

    secrets = (CCCD, NAME, NAME.encode("unicode_escape").decode())  # also as a JSON \\u escape
    for topic in topics.all():
        for value in await everything_on(topic):
            found = [s for s in secrets if s.encode() in value or s in value.decode("utf-8", "replace")]
            assert not found, topic
    for log_file in stack.run_dir.glob("*.log"):
        content = log_file.read_text(errors="replace")
        assert not [s for s in secrets if s in content], log_file.name
    tables = await every_row(db, schemas)
    assert len(tables[f"{schemas}intake.applicant_identities"]) == 1
    for table, rows in tables.items():
        assert not [s for s in secrets for row in rows if s in row], table
