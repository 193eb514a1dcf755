"""Two instances of every service start together and create their schema at once: every start
succeeds and the schema ends up whole (create_schema serializes them with an advisory lock)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from services.intake.models import Base as IntakeBase
from services.metrics.models import Base as MetricsBase
from services.processing.models import Base as ProcessingBase
from services.sync.models import Base as SyncBase
from shared.db import create_schema, make_engine
from shared.tables import PLUMBING
from tests.conftest import DATABASE_URL

pytestmark = pytest.mark.integration
SERVICES = {"intake": IntakeBase, "processing": ProcessingBase, "sync": SyncBase, "metrics": MetricsBase}


async def test_instances_creating_their_schemas_at_once_all_start(schemas, db):
    engines = [(name, make_engine(DATABASE_URL, f"{schemas}{name}")) for name in SERVICES for _ in range(3)]
    try:
        results = await asyncio.gather(*(create_schema(e, f"{schemas}{name}", PLUMBING, SERVICES[name].metadata)
                                         for name, e in engines), return_exceptions=True)
    finally:
        await asyncio.gather(*(e.dispose() for _, e in engines))
    assert [r for r in results if r is not None] == []
    async with db.connect() as conn:
        for name, base in SERVICES.items():
            rows = await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"),
                                      {"s": f"{schemas}{name}"})
            want = {t.name for t in base.metadata.sorted_tables} | {t.name for t in PLUMBING.sorted_tables}
            assert {r[0] for r in rows} == want, name
