"""Write and check Alembic revisions for the services' schemas (developers; operators use
`python -m deploy upgrade`).

    python -m deploy.migrate revision --service sync -m "sync_backlog: index on parked"
    python -m deploy.migrate check            # exit 1 if a service's models differ from its head
    python -m deploy.migrate upgrade [--schema-prefix P]   # every schema to head (docker compose)

`revision` builds the service's schema at head in a scratch schema, compares it with the models
(Alembic autogenerate) and writes the difference as the next revision under
services/<service>/migrations/versions/, to be read and corrected by hand before committing
(autogenerate does not see renames, data moves or changed server defaults reliably).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
import uuid

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, text

from shared.db import make_engine
from shared.migrations import BASELINE, SERVICES, alembic_config, head, upgrade_schema
from shared.tables import PLUMBING


def metadata(service: str) -> list[MetaData]:
    """Every table a service's schema holds: the shared plumbing and the service's models, with
    the tables modules beside models.py add to its metadata (intake's identity store, sync's
    document connector): importing the app imports them all, as the running service does."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    importlib.import_module(f"services.{service}.app")
    base = importlib.import_module(f"services.{service}.models").Base
    return [PLUMBING, base.metadata]


async def _in_scratch_schema(database_url: str, service: str, work):
    """Run work(sync connection) on a scratch schema migrated to head, dropped afterwards."""
    schema = f"migrate_{service}_{uuid.uuid4().hex[:8]}"
    engine = make_engine(database_url, schema, pool_size=1)
    try:
        await upgrade_schema(engine, schema, service)
        async with engine.begin() as conn:
            return await conn.run_sync(work)
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await engine.dispose()


async def differences(database_url: str, service: str) -> list:
    """What autogenerate would put in a new revision: empty when the models match the head."""

    def compare(connection):
        context = MigrationContext.configure(
            connection,
            opts={"target_metadata": metadata(service), "compare_type": True, "compare_server_default": True},
        )
        return [
            d
            for d in compare_metadata(context, metadata(service))
            if not (d[0] == "remove_table" and d[1].name == "alembic_version")
        ]

    return await _in_scratch_schema(database_url, service, compare)


async def new_revision(database_url: str, service: str, message: str) -> None:
    def write(connection):
        current = head(service)
        rev_id = f"{int(current) + 1:04d}" if current else BASELINE
        command.revision(
            alembic_config(service, connection, metadata(service)), message=message, autogenerate=True, rev_id=rev_id
        )

    await _in_scratch_schema(database_url, service, write)


async def upgrade_one(database_url: str, schema: str, service: str) -> tuple[str | None, str]:
    engine = make_engine(database_url, schema, pool_size=1)
    try:
        return await upgrade_schema(engine, schema, service)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["revision", "check", "upgrade"])
    parser.add_argument("--schema-prefix", default=os.environ.get("SCHEMA_PREFIX", ""))
    parser.add_argument("--service", choices=SERVICES)
    parser.add_argument("-m", "--message", default="")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgresql+asyncpg://dossier:dossier@127.0.0.1:55432/dossier"),
    )
    args = parser.parse_args()
    if args.action == "revision":
        if not args.service or not args.message:
            parser.error("revision needs --service and -m")
        asyncio.run(new_revision(args.database_url, args.service, args.message))
        return
    if args.action == "upgrade":
        for service in [args.service] if args.service else SERVICES:
            before, after = asyncio.run(upgrade_one(args.database_url, args.schema_prefix + service, service))
            print(f"{service}: {before or 'empty'} -> {after}")
        return
    failed = False
    for service in [args.service] if args.service else SERVICES:
        diff = asyncio.run(differences(args.database_url, service))
        print(f"{service}: {'models match head ' + head(service) if not diff else 'models differ from head:'}")
        for d in diff:
            print("   ", d)
        failed |= bool(diff)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
