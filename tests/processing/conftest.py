"""Processing's stores on the test database, and records as the broker hands them over."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from shared.db import create_schema, make_engine, make_sessionmaker
from shared.tables import PLUMBING
from tests.conftest import DATABASE_URL


@pytest.fixture
async def stores(schemas):
    engines = []

    async def store(name, *metadata):
        engine = make_engine(DATABASE_URL, f"{schemas}{name}")
        engines.append(engine)
        await create_schema(engine, f"{schemas}{name}", PLUMBING, *metadata)
        return make_sessionmaker(engine)

    yield store
    for engine in engines:
        await engine.dispose()


def records(events: list[dict]) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(value=json.dumps(e).encode(), topic="t", partition=0, offset=i) for i, e in enumerate(events)
    ]
