"""Engine and schema set-up shared by the services."""

from __future__ import annotations

import pydantic_core
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine


def make_engine(url: str, schema: str, pool_size: int = 5) -> AsyncEngine:
    """An engine whose connections see only the service's own schema (then public)."""
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=5,
        pool_pre_ping=True,
        connect_args={"server_settings": {"search_path": schema}},
        # JSON(B) columns through pydantic's Rust encoder and parser: a dossier's state is written
        # and its events read on every fold, where the stdlib json module cost 3-5x the CPU.
        json_serializer=_to_json,
        json_deserializer=pydantic_core.from_json,
    )


def _to_json(value) -> str:
    return pydantic_core.to_json(value).decode()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


async def create_schema(engine: AsyncEngine, schema: str, *metadatas: MetaData) -> None:
    """Create the service's schema and tables if missing (idempotent, safe to race)."""
    async with engine.begin() as conn:
        # Serialize concurrent start-ups of replicas on the same schema.
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": schema})
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        for metadata in metadatas:
            await conn.run_sync(metadata.create_all)
