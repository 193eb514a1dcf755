"""Each service's schema under Alembic: created by the migrations, upgraded on command only.

Every service keeps its Alembic environment in services/<service>/migrations (env.py calls
run_env below); the version table `alembic_version` lives in the service's own schema, and the
migrations name no schema (the engine's search_path is the service's schema), so tests can build
the same schema under any prefix.

At start a service calls prepare_schema: an empty schema is built by running the migrations to
head; a schema at head is used as is; anything else refuses to start (SchemaNotCurrent) until an
operator runs `python -m deploy upgrade`, so code never runs against tables it does not expect.
A schema built by create_all before migrations existed (commit 587e2f2, no version table) counts
as the baseline revision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)
T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("intake", "processing", "sync", "metrics")  # the services with a schema
BASELINE = "0001"  # every service's first revision: the schema as commit 587e2f2's create_all left it


class SchemaNotCurrent(RuntimeError):
    """The database's schema is not the one this code was written for."""


def script_location(service: str) -> Path:
    return ROOT / "services" / service / "migrations"


def alembic_config(
    service: str, connection: Connection | None = None, metadata: list[MetaData] | None = None
) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location(service)))
    config.attributes["connection"] = connection
    config.attributes["metadata"] = metadata
    return config


def head(service: str) -> str:
    current = ScriptDirectory.from_config(alembic_config(service)).get_current_head()
    if current is None:
        raise LookupError(f"{service} has no migrations")
    return current


def run_env(context: Any) -> None:
    """The body of every env.py: run on the connection the caller handed over (online only)."""
    attributes = context.config.attributes
    context.configure(
        connection=attributes["connection"],
        target_metadata=attributes.get("metadata"),
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def current_revision(connection: Connection) -> str | None:
    """The schema's revision; BASELINE for a create_all schema from before migrations; None if empty."""
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None and [t for t in inspect(connection).get_table_names() if t != "alembic_version"]:
        return BASELINE
    return revision


def _upgrade(connection: Connection, service: str, target: str) -> None:
    if MigrationContext.configure(connection).get_current_revision() is None and current_revision(connection):
        command.stamp(alembic_config(service, connection), BASELINE)  # a create_all schema: record it
    command.upgrade(alembic_config(service, connection), target)


async def _locked(engine: AsyncEngine, schema: str, work: Callable[[Connection], T]) -> T:
    async with engine.begin() as conn:
        # Serialize start-ups and upgrades on the same schema (replicas, or start beside upgrade).
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": schema})
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        return await conn.run_sync(work)


async def prepare_schema(engine: AsyncEngine, schema: str, service: str) -> None:
    """At start: build an empty schema to head, accept one at head, refuse anything else."""
    wanted = head(service)

    def work(connection: Connection) -> str:
        current = current_revision(connection)
        if current is None:
            log.info("schema %s is empty: creating it with the migrations (head %s)", schema, wanted)
            command.upgrade(alembic_config(service, connection), "head")
            return wanted
        return current

    current = await _locked(engine, schema, work)
    if current != wanted:
        state = "ahead of this code (a newer version ran here)" if _is_ahead(service, current) else "behind"
        message = (
            f"schema {schema} is at revision {current}, this code needs {wanted} ({state}): "
            f"refusing to start; run `python -m deploy upgrade` first"
        )
        log.error(message)
        raise SchemaNotCurrent(message)


def _is_ahead(service: str, revision: str) -> bool:
    try:
        ScriptDirectory.from_config(alembic_config(service)).get_revision(revision)
        return False
    except Exception:
        return True  # not a revision this code knows


async def upgrade_schema(
    engine: AsyncEngine, schema: str, service: str, target: str = "head"
) -> tuple[str | None, str]:
    """Bring the schema to `target` (head by default); returns (revision before, revision after)."""

    def work(connection: Connection) -> tuple[str | None, str]:
        before = current_revision(connection)
        _upgrade(connection, service, target)
        return before, str(MigrationContext.configure(connection).get_current_revision())

    return await _locked(engine, schema, work)


async def schema_revision(engine: AsyncEngine, schema: str) -> str | None:
    """The schema's revision (None: empty or missing), without creating or changing anything."""
    async with engine.connect() as conn:
        return await conn.run_sync(current_revision)
