"""shared.db.BulkInsert and any_of/none_of on the real PostgreSQL: what the hot batch writes rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, select
from sqlalchemy.dialects.postgresql import JSONB

from shared.db import BulkInsert, any_of, create_schema, make_engine, make_sessionmaker, none_of, upsert
from tests.conftest import DATABASE_URL

pytestmark = pytest.mark.integration

META = MetaData()
ROWS = Table(
    "rows",
    META,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(64), unique=True),
    Column("revision", Integer),
    Column("time", DateTime(timezone=True)),  # a keyword as a column name
    Column("flag", Boolean),
    Column("data", JSONB),
)
COLUMNS = ["code", "revision", "time", "flag", "data"]
NEWER = BulkInsert(ROWS, COLUMNS, upsert("code", COLUMNS, "rows.revision < EXCLUDED.revision") + " RETURNING code")


@pytest.fixture
async def session(schemas):
    schema = f"{schemas}bulk"
    engine = make_engine(DATABASE_URL, schema)
    await create_schema(engine, schema, META)
    async with make_sessionmaker(engine)() as session:
        yield session
    await engine.dispose()


def row(i: int, revision: int) -> dict:
    return {
        "code": f"C{i:04d}",
        "revision": revision,
        "time": datetime(2026, 2, 14, tzinfo=UTC) + timedelta(hours=i),
        "flag": i % 2 == 0,
        "data": {"tên": "Nguyễn Thị Ánh", "i": i, "nested": [1, None]} if i % 3 else None,
    }


async def test_rows_arrive_in_order_with_their_types_and_json(session):
    rows = [row(i, 1) for i in range(2500)]
    async with session.begin():
        returned = (await NEWER.execute(session, rows)).scalars().all()
    assert returned == [r["code"] for r in rows]
    stored = (await session.execute(select(ROWS).order_by(ROWS.c.id))).mappings().all()
    # Serial ids follow the rows' order (the outbox relies on it for per-key order).
    assert [{c: s[c] for c in COLUMNS} for s in stored] == rows
    await session.rollback()


async def test_the_conflict_clause_applies_per_row(session):
    async with session.begin():
        await NEWER.execute(session, [row(i, 2) for i in range(10)])
    async with session.begin():
        changed = (await NEWER.execute(session, [row(i, 1 if i < 5 else 3) for i in range(10)])).scalars().all()
    assert changed == [f"C{i:04d}" for i in range(5, 10)]  # older revisions changed nothing
    revisions = dict((await session.execute(select(ROWS.c.code, ROWS.c.revision))).tuples().all())
    assert revisions == {f"C{i:04d}": 2 if i < 5 else 3 for i in range(10)}
    await session.rollback()


async def test_any_of_and_none_of_bind_one_array(session):
    async with session.begin():
        await NEWER.execute(session, [row(i, 1) for i in range(6)])
    picked = ["C0001", "C0003", "C9999"]
    found = (await session.execute(select(ROWS.c.code).where(any_of(ROWS.c.code, picked)))).scalars().all()
    assert sorted(found) == ["C0001", "C0003"]
    rest = (await session.execute(select(ROWS.c.code).where(none_of(ROWS.c.code, picked)))).scalars().all()
    assert sorted(rest) == ["C0000", "C0002", "C0004", "C0005"]
    everything = (await session.execute(select(ROWS.c.code).where(none_of(ROWS.c.code, [])))).scalars().all()
    assert len(everything) == 6
    sql = str(select(ROWS.c.code).where(any_of(ROWS.c.code, picked)).compile())
    assert "ANY" in sql and sql.count("param") == 1, sql  # one array, not one parameter per code
    await session.rollback()


async def test_json_columns_take_text_already_encoded(session):
    encoded = '{"tên": "Lê Văn Tám", "n": [1, 2]}'.encode()
    async with session.begin():
        await NEWER.execute(session, [row(1, 1) | {"data": encoded}])
    stored = (await session.execute(select(ROWS.c.data))).scalar_one()
    assert stored == {"tên": "Lê Văn Tám", "n": [1, 2]}  # an object, not a JSON string holding one
    await session.rollback()
