"""Services in this process (ASGI transport) on the real database and broker, with this test's
schemas and topics, for the attacker probes of issue 13; reader and operator tokens."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from services.sync.app import create_app as create_sync
from services.sync.config import SyncSettings
from tests.conftest import DATABASE_URL, KAFKA

READER, OPERATOR = "probe-reader-token", "probe-operator-token"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(monkeypatch):
    """A province-wide reader token and an operator token, configured by digest."""
    monkeypatch.setenv("READER_TOKEN_SHA256", hashlib.sha256(READER.encode()).hexdigest())
    monkeypatch.setenv("READER_OPERATOR_TOKEN_SHA256", hashlib.sha256(OPERATOR.encode()).hexdigest())


@asynccontextmanager
async def running_sync(topics, schemas: str, **settings) -> AsyncIterator[FastAPI]:
    app = create_sync(
        SyncSettings(
            database_url=DATABASE_URL,
            kafka_bootstrap=KAFKA,
            topic_prefix=topics.prefix,
            db_schema=f"{schemas}sync",
            portal_username="u",
            portal_password="p",
            **settings,
        )
    )
    async with app.router.lifespan_context(app):
        yield app


def client(app: FastAPI, **headers: str) -> httpx.AsyncClient:
    # raise_app_exceptions=False: answer as uvicorn would after the app's 500 handler ran.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://service", headers=headers)


@asynccontextmanager
async def running_processing(topics, schemas: str, **settings) -> AsyncIterator[FastAPI]:
    from services.processing.app import create_app
    from services.processing.config import ProcessingSettings

    app = create_app(
        ProcessingSettings(
            database_url=DATABASE_URL,
            kafka_bootstrap=KAFKA,
            topic_prefix=topics.prefix,
            db_schema=f"{schemas}processing",
            **settings,
        )
    )
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def running_metrics(topics, schemas: str, **settings) -> AsyncIterator[FastAPI]:
    from services.metrics.app import create_app
    from services.metrics.config import MetricsSettings

    app = create_app(
        MetricsSettings(
            database_url=DATABASE_URL,
            kafka_bootstrap=KAFKA,
            topic_prefix=topics.prefix,
            db_schema=f"{schemas}metrics",
            **settings,
        )
    )
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
def reader_schema(monkeypatch, schemas):
    """Unit-bound reader tokens in this test's own schema (dropped with the others)."""
    monkeypatch.setenv("READER_DB_SCHEMA", f"{schemas}readers")
    monkeypatch.setenv("READER_DATABASE_URL", DATABASE_URL)
    return f"{schemas}readers"


def reader_command(*args: str) -> str:
    """python -m shared.auth …, as an operator runs it (environment from the fixtures); its stdout."""
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "shared.auth", *args], env=dict(os.environ), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
