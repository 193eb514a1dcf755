"""Engine and schema set-up shared by the services."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pydantic_core
from sqlalchemy import ARRAY, JSON, ColumnElement, MetaData, Result, Table, all_, any_, event, literal, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql import FromClause


def make_engine(url: str, schema: str, pool_size: int = 5) -> AsyncEngine:
    """An engine whose connections see only the service's own schema (then public)."""
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=5,
        connect_args={"server_settings": {"search_path": schema}},
        # JSON(B) columns through pydantic's Rust encoder and parser: a dossier's state is written
        # and its events read on every fold, where the stdlib json module cost 3-5x the CPU.
        json_serializer=_to_json,
        json_deserializer=pydantic_core.from_json,
    )
    _ping_when_idle(engine)
    return engine


# A pooled connection that sat unused this long is pinged before it is handed out.
IDLE_BEFORE_PING = 1.0  # seconds


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a pooled connection before handing it out only if it sat idle: one that was stale
    after a database restart is replaced instead of failing its first statement. SQLAlchemy's
    pool_pre_ping pings at every checkout; under load that was a round trip per request or batch
    (3-6% of intake's, sync's and metrics' CPU in the bench) on connections used a moment before.
    A connection that breaks within the second fails its statement as a transient error: the
    consumers retry it, intake answers 503 (is_transient), and the pool drops its other
    connections as older than the failure."""

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _idle_from(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_BEFORE_PING:
            return  # just connected, or just used
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool invalidates this connection and checks out another
            raise DisconnectionError(f"stale pooled connection: {type(exc).__name__}") from exc


# SQLSTATE classes that say "try again later", not "this record (or request) is bad": connection
# exception, insufficient resources, operator intervention (shutdown, starting up), transaction
# rollback, and 42 (undefined column or table: a schema that does not match the code). Our
# statements are static, so a 42 is never one record's fault; dead-lettering would empty the
# stream into the dead-letter topic, while retrying keeps it intact until the deployment is fixed.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57", "40", "42")


def is_transient(exc: BaseException) -> bool:
    """True if the database (not the record or request) is at fault: a consumer retries the same
    batch, a request is answered 503 to come back (shared/guards.py)."""
    if isinstance(exc, (OSError, InterfaceError)):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig  # type: ignore[assignment]  # the driver's error, which carries the SQLSTATE
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES


# A table's column or a mapped attribute (what any_of and none_of compare).
Column = ColumnElement[Any] | QueryableAttribute[Any]


def _to_json(value: Any) -> str:
    return pydantic_core.to_json(value).decode()


def any_of(column: Column, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column = ANY(:array)`: one bind parameter for the whole list, where `column IN (...)` binds
    one per value, so each list length is a new statement for SQLAlchemy to compile and for
    PostgreSQL to prepare and plan (a tenth of the consumers' CPU on 1,000-row batches)."""
    return column == any_(literal(list(values), ARRAY(column.type)))


def none_of(column: Column, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column <> ALL(:array)`, the negation of any_of (true for an empty list)."""
    return column != all_(literal(list(values), ARRAY(column.type)))


class BulkInsert:
    """INSERT … SELECT FROM unnest(one array per column): a whole batch is one statement with one
    parameter per column, which asyncpg encodes in C. SQLAlchemy's executemany spends ~11 µs of
    Python per row on parameters (half of a consumer's CPU on some batches); this about 1.

    `tail` is what follows the SELECT: ON CONFLICT … and RETURNING …. JSON columns take Python
    values, encoded here (asyncpg's codec takes text), or bytes of JSON already encoded; the
    other columns are encoded by asyncpg.
    """

    def __init__(self, table: FromClause, columns: Sequence[str], tail: str = ""):
        if not isinstance(table, Table):  # a mapped class's __table__ is typed as any FromClause
            raise TypeError(f"BulkInsert needs a Table, not {table!r}")
        self.columns = tuple(columns)
        types = {c.name: c.type for c in table.columns}
        self.json = frozenset(c for c in self.columns if isinstance(types[c], JSON))
        arrays = ", ".join(f"CAST(:{c} AS {types[c].compile(dialect=_PG)}[])" for c in self.columns)
        names = ", ".join(f'"{c}"' for c in self.columns)
        self.statement = text(f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays}) {tail}")

    async def execute(self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> Result[Any]:
        params = {c: [_json_text(r[c]) for r in rows] if c in self.json else [r[c] for r in rows] for c in self.columns}
        return await session.execute(self.statement, params)


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else _to_json(value)


def upsert(key: str, columns: Sequence[str], where: str = "") -> str:
    """The ON CONFLICT clause that replaces every other column (when `where` holds, if given)."""
    sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c != key)
    return f'ON CONFLICT ("{key}") DO UPDATE SET {sets}' + (f" WHERE {where}" if where else "")


_PG = postgresql.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it unannotated


_ASYNC_COMMIT = text("SET LOCAL synchronous_commit = off")


async def commit_without_flush_wait(session: AsyncSession) -> None:
    """Let this transaction's COMMIT return before its WAL reaches the disk.

    Only for transactions that can be lost and redone without effect: a consumer's batch (its
    offsets commit with it, so a lost batch is read and applied again) and the outbox relay's
    delete (a lost delete publishes the rows again; consumers drop the duplicates). Never for
    intake, which answers the counter after its commit. A server crash loses at most the last
    ~0.2 s of them (wal_writer_delay); killed backends or clients lose nothing.
    """
    await session.execute(_ASYNC_COMMIT)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def create_schema(engine: AsyncEngine, schema: str, *metadatas: MetaData) -> None:
    """Create the service's schema and tables if missing (idempotent, safe to race)."""
    async with engine.begin() as conn:
        # Serialize concurrent start-ups of replicas on the same schema.
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": schema})
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        for metadata in metadatas:
            await conn.run_sync(metadata.create_all)
