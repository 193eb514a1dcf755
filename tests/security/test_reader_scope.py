"""Probe (medium): one reader token read every unit's dossiers and the province's overdue list.
Reader tokens are now bound to unit subtrees (made, rotated and revoked by command, stored
hashed): a commune's or a department's token reads its own dossiers only; the province's, all."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from services.processing.models import AnomalyRow
from services.sync.documents.models import DocsysRequest
from tests.security.harness import (  # noqa: F401  (fixtures)
    READER,
    bearer,
    client,
    reader_command,
    reader_schema,
    running_metrics,
    running_processing,
    running_sync,
    tokens,
)

pytestmark = pytest.mark.integration
MINE, THEIRS = "H44.100-260803-0001", "H44.07-260803-0001"
AT = datetime(2026, 8, 3, 2, tzinfo=UTC)


async def test_a_unit_token_reads_its_units_dossiers_and_anomalies_only(topics, schemas, tokens, reader_schema):  # noqa: F811
    unit_token = reader_command("create", "--name", "ubnd-h44-100", "--units", "H44.100")
    assert unit_token.startswith("rt.") and unit_token.split(".")[2] not in reader_command("list")
    async with running_processing(topics, schemas) as app:
        async with app.state.runtime.sessionmaker() as session, session.begin():
            await session.execute(
                insert(AnomalyRow),
                [
                    {
                        "event_id": f"e-{code}",
                        "dossier_code": code,
                        "type": "dossier.processed",
                        "time": AT,
                        "reason": "not allowed",
                    }
                    for code in (MINE, THEIRS)
                ],
            )
        async with client(app, **bearer(unit_token)) as c:
            assert (await c.get(f"/v1/dossiers/{THEIRS}")).status_code == 403
            assert (await c.get(f"/v1/dossiers/{MINE}")).status_code == 404  # allowed; none yet
            assert [a["dossier_code"] for a in (await c.get("/v1/anomalies")).json()] == [MINE]
            assert (await c.get("/v1/anomalies", params={"dossier": THEIRS})).json() == []
        async with client(app, **bearer(READER)) as c:  # province-wide
            assert sorted(a["dossier_code"] for a in (await c.get("/v1/anomalies")).json()) == sorted([MINE, THEIRS])
            assert (await c.get(f"/v1/dossiers/{THEIRS}")).status_code == 404

        # Rotation and revocation by command take effect at once.
        rotated = reader_command("rotate", "--name", "ubnd-h44-100")
        async with client(app, **bearer(unit_token)) as c:
            assert (await c.get("/v1/anomalies")).status_code == 401
        async with client(app, **bearer(rotated)) as c:
            assert (await c.get("/v1/anomalies")).status_code == 200
        reader_command("revoke", "--name", "ubnd-h44-100")
        async with client(app, **bearer(rotated)) as c:
            assert (await c.get("/v1/anomalies")).status_code == 401


async def test_the_overdue_list_and_drill_down_answer_for_the_tokens_units_only(topics, schemas, tokens, reader_schema):  # noqa: F811
    unit_token = reader_command("create", "--name", "ubnd-h44-100", "--units", "H44.100")
    async with running_metrics(topics, schemas) as app:
        async with client(app, **bearer(unit_token)) as c:
            assert (await c.get("/v1/overdue", params={"unit": "H44"})).status_code == 403  # the province's list
            assert (await c.get("/v1/overdue", params={"unit": "H44.07"})).status_code == 403
            assert (await c.get("/v1/overdue", params={"unit": "H44.100"})).status_code == 200
            assert (await c.get(f"/v1/dossiers/{THEIRS}")).status_code == 403
        async with client(app, **bearer(READER)) as c:
            assert (await c.get("/v1/overdue", params={"unit": "H44"})).status_code == 200


async def test_sync_lists_only_the_tokens_units(topics, schemas, tokens, reader_schema):  # noqa: F811
    unit_token = reader_command("create", "--name", "ubnd-h44-100", "--units", "H44.100")
    async with running_sync(topics, schemas) as app:
        async with app.state.runtime.sessionmaker() as session, session.begin():
            await session.execute(
                insert(DocsysRequest),
                [
                    {
                        "dossier_code": code,
                        "revision": 1,
                        "status": 4,
                        "received_at": AT,
                        "record": {"unit_code": code.split("-")[0]},
                        "state": "assigned",
                    }
                    for code in (MINE, THEIRS)
                ],
            )
        async with client(app, **bearer(unit_token)) as c:
            assert [r["dossier_code"] for r in (await c.get("/v1/documents")).json()] == [MINE]
            assert (await c.get(f"/v1/documents/{THEIRS}")).status_code == 403
            assert (await c.get(f"/v1/documents/{MINE}")).status_code == 200
        async with client(app, **bearer(READER)) as c:
            assert len((await c.get("/v1/documents")).json()) == 2
        async with client(app) as c:
            for path in ("/v1/documents", "/v1/documents/rejections", "/v1/documents/failures", "/v1/sync/failures"):
                assert (await c.get(path)).status_code == 401, path
