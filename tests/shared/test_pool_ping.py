"""A pooled connection is pinged before reuse only after it sat idle, on the real database.

A connection handed out again at once is not pinged (that was a round trip per request or batch);
one that sat idle past the threshold is, and if the database dropped it meanwhile (a restart, an
administrator), the caller gets a new connection instead of an error.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

import shared.db
from shared.db import make_engine
from tests.conftest import DATABASE_URL

pytestmark = pytest.mark.integration

BACKEND = text("SELECT pg_backend_pid()")


@pytest.fixture
async def counted():
    """A service's engine whose pings are counted."""
    engine = make_engine(DATABASE_URL, "public", pool_size=1)
    pings: list[object] = []
    ping = engine.dialect.do_ping

    def counting(connection):
        pings.append(connection)
        return ping(connection)

    engine.dialect.do_ping = counting  # type: ignore[method-assign]
    yield engine, pings
    await engine.dispose()


async def test_a_connection_used_a_moment_ago_is_not_pinged(counted, monkeypatch):
    engine, pings = counted
    monkeypatch.setattr(shared.db, "IDLE_BEFORE_PING", 3600.0)
    backends = []
    for _ in range(3):
        async with engine.connect() as conn:
            backends.append(await conn.scalar(BACKEND))
    assert len(set(backends)) == 1  # the same pooled connection each time
    assert pings == []


async def test_an_idle_connection_dropped_by_the_database_is_replaced_without_an_error(counted, monkeypatch):
    engine, pings = counted
    async with engine.connect() as conn:
        first = await conn.scalar(BACKEND)
    killer = create_async_engine(DATABASE_URL)
    try:
        async with killer.connect() as conn:
            assert await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    finally:
        await killer.dispose()
    monkeypatch.setattr(shared.db, "IDLE_BEFORE_PING", 0.0)  # every connection has sat idle long enough
    async with engine.connect() as conn:
        second = await conn.scalar(BACKEND)
    assert second != first
    assert len(pings) == 1  # the stale connection's ping; the new one was just connected
