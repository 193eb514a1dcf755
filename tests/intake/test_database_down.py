"""When intake's database cannot be reached, a counter system is told to come back (503 with
Retry-After), not that intake failed (500): nothing was stored, and the same POST later succeeds."""

from __future__ import annotations

import pytest

from shared.db import make_engine, make_sessionmaker
from tests.intake.harness import client, new_key, received, running_intake

pytestmark = pytest.mark.integration
UNREACHABLE = "postgresql+asyncpg://dossier:dossier@127.0.0.1:1/dossier"  # port 1: a refused connect


async def test_a_post_while_the_database_is_unreachable_is_503_with_retry_after(topics, schemas):
    async with running_intake(topics, schemas) as app:
        key = await new_key(app, "counter", ["H44"])
        runtime, event = app.state.runtime, received("H44.100-260811-0001")
        event["data"]["applicant"] = {"id_number": "001203004567", "name": "Nguyễn Văn An"}
        reachable = runtime.sessionmaker
        gone = make_engine(UNREACHABLE, f"{schemas}intake")
        runtime.sessionmaker = make_sessionmaker(gone)
        try:
            async with client(app, key) as c:
                down = await c.post("/v1/events", json=event)
                batch = await c.post("/v1/events/batch", json=[event])
        finally:
            runtime.sessionmaker = reachable
            await gone.dispose()
        for answer in (down, batch):
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"] == "2"
            assert "database" in answer.json()["detail"]
            assert "Nguyễn" not in answer.text and "001203004567" not in answer.text
        async with client(app, key) as c:
            assert (await c.post("/v1/events", json=event)).status_code == 201  # the same POST, later
