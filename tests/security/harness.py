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
    app = create_sync(SyncSettings(database_url=DATABASE_URL, kafka_bootstrap=KAFKA, topic_prefix=topics.prefix,
                                   db_schema=f"{schemas}sync", portal_username="u", portal_password="p",
                                   **settings))
    async with app.router.lifespan_context(app):
        yield app


def client(app: FastAPI, **headers: str) -> httpx.AsyncClient:
    # raise_app_exceptions=False: answer as uvicorn would after the app's 500 handler ran.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://service", headers=headers)
