"""Intake in this process (ASGI transport) on the real database and broker, with this test's
schema and topics, and helpers to mint API keys straight into its table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from services.intake.apikeys import create_key
from services.intake.app import create_app
from services.intake.config import IntakeSettings
from shared.units import load_units
from simulators.counter.events import EventFactory
from tests.conftest import DATABASE_URL, KAFKA

APPLICANT_KEY = "test-applicant-hmac-key"


@asynccontextmanager
async def running_intake(topics, schemas: str, **settings) -> AsyncIterator[FastAPI]:
    app = create_app(
        IntakeSettings(
            database_url=DATABASE_URL,
            kafka_bootstrap=KAFKA,
            topic_prefix=topics.prefix,
            db_schema=f"{schemas}intake",
            applicant_id_key=APPLICANT_KEY,
            **settings,
        )
    )
    async with app.router.lifespan_context(app):
        yield app


def client(app: FastAPI, key: str | None = None) -> httpx.AsyncClient:
    # raise_app_exceptions=False: answer as uvicorn would after the app's 500 handler ran.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"X-API-Key": key} if key else {}
    return httpx.AsyncClient(transport=transport, base_url="http://intake", headers=headers)


async def new_key(app: FastAPI, name: str, units: list[str]) -> str:
    async with app.state.runtime.sessionmaker() as session, session.begin():
        return await create_key(session, name=name, units=units, tree=load_units())


def received(code: str, unit: str | None = None, **data) -> dict:
    """A valid dossier.received for the dossier `code` (its unit by default: the code's prefix)."""
    at = datetime.now(UTC) - timedelta(hours=1)
    event = EventFactory("motcua-test").received(
        code, at, unit=unit or code.rsplit("-", 2)[0], procedure="1.000894", channel=1
    )
    event["data"].update(data)
    return event


def processed(code: str) -> dict:
    return EventFactory("motcua-test").processed(code, datetime.now(UTC) - timedelta(minutes=5))
