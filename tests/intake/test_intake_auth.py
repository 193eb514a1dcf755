"""Counter systems' API keys on intake: 401, 403 per unit (single and per batch item), revocation
and rotation, on the real database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.intake.apikeys import revoke_key, rotate_key
from shared.units import load_units
from tests.intake.harness import client, new_key, processed, received, running_intake

pytestmark = pytest.mark.integration


async def test_no_key_or_a_bad_key_is_401(topics, schemas):
    async with running_intake(topics, schemas) as app:
        good = await new_key(app, "motcua-h44-100", ["H44.100"])
        key_id = good.split(".")[1]
        for key in (None, "", "nonsense", "dk.000000000000.secret", f"dk.{key_id}.wrong-secret", good + "x"):
            async with client(app, key) as c:
                response = await c.post("/v1/events", json=received("H44.100-260801-0001"))
            assert response.status_code == 401, key
            assert response.headers["WWW-Authenticate"].startswith("ApiKey")
        async with client(app, good) as c:
            assert (await c.post("/v1/events", json=received("H44.100-260801-0001"))).status_code == 201


async def test_an_event_for_another_unit_is_403(topics, schemas):
    async with running_intake(topics, schemas) as app:
        key = await new_key(app, "motcua-h44-100", ["H44.100", "H44.101"])
        async with client(app, key) as c:
            other = await c.post("/v1/events", json=received("H44.07-260801-0001"))
            assert other.status_code == 403
            assert other.json()["detail"] == [
                {"field": "subject", "message": "the key 'motcua-h44-100' may not post for unit H44.07"},
                {"field": "data.unit_code", "message": "the key 'motcua-h44-100' may not post for unit H44.07"},
            ]
            # An event without a unit of its own is judged by its dossier code's prefix.
            assert (await c.post("/v1/events", json=processed("H44.08-260801-0001"))).status_code == 403
            # Its own dossier counted for another unit is refused too.
            smuggled = await c.post("/v1/events", json=received("H44.100-260801-0002", unit="H44.07"))
            assert smuggled.status_code == 403
            assert [e["field"] for e in smuggled.json()["detail"]] == ["data.unit_code"]
            assert (await c.post("/v1/events", json=received("H44.101-260801-0001"))).status_code == 201


async def test_a_batch_rejects_only_the_items_for_other_units(topics, schemas):
    async with running_intake(topics, schemas) as app:
        key = await new_key(app, "motcua-h44-100", ["H44.100"])
        mine, theirs, invalid = (
            received("H44.100-260802-0001"),
            processed("H44.07-260802-0001"),
            received("H44.100-260802-0002", channel=9),
        )
        async with client(app, key) as c:
            response = await c.post("/v1/events/batch", json=[mine, theirs, invalid])
            assert response.status_code == 207
            body = response.json()
            assert (body["accepted"], body["rejected"]) == (1, 2)
            assert [r["status"] for r in body["results"]] == ["accepted", "forbidden", "rejected"]
            assert body["results"][1]["errors"] == [
                {"field": "subject", "message": "the key 'motcua-h44-100' may not post for unit H44.07"}
            ]
            only_theirs = await c.post("/v1/events/batch", json=[theirs, processed("H44.08-260802-0001")])
            assert only_theirs.status_code == 403
            assert {r["status"] for r in only_theirs.json()["results"]} == {"forbidden"}


async def test_a_key_bound_to_the_province_root_posts_for_every_unit(topics, schemas):
    async with running_intake(topics, schemas) as app:
        key = await new_key(app, "simulator", ["H44"])
        events = [received(f"{unit}-260803-0001") for unit in ("H44.100", "H44.07", "H44.08", "H44")]
        async with client(app, key) as c:
            response = await c.post("/v1/events/batch", json=events)
        assert response.status_code == 200 and response.json()["accepted"] == 4


async def test_a_revoked_key_is_refused_at_once(topics, schemas):
    async with running_intake(topics, schemas) as app:
        key = await new_key(app, "motcua-h44-100", ["H44.100"])
        async with client(app, key) as c:
            assert (await c.post("/v1/events", json=received("H44.100-260804-0001"))).status_code == 201
            async with app.state.runtime.sessionmaker() as session, session.begin():
                assert await revoke_key(session, name="motcua-h44-100") == 1
            response = await c.post("/v1/events", json=received("H44.100-260804-0002"))
        assert response.status_code == 401
        assert response.json()["detail"] == "invalid, revoked or expired API key"


async def test_rotation_replaces_the_key_with_or_without_a_grace_period(topics, schemas):
    async with running_intake(topics, schemas) as app:
        old = await new_key(app, "motcua-h44-100", ["H44.100"])
        async with app.state.runtime.sessionmaker() as session, session.begin():
            graced = await rotate_key(session, name="motcua-h44-100", grace=timedelta(hours=1), tree=load_units())
        for key in (old, graced):  # both work during the grace period
            async with client(app, key) as c:
                assert (await c.post("/v1/events", json=received("H44.100-260805-0001"))).status_code in (200, 201)
        async with app.state.runtime.sessionmaker() as session, session.begin():
            newest = await rotate_key(session, name="motcua-h44-100", tree=load_units())  # no grace
        for key, expected in ((old, 401), (graced, 401), (newest, 201)):
            async with client(app, key) as c:
                response = await c.post("/v1/events", json=received(f"H44.100-260805-000{expected % 10 + 2}"))
            assert response.status_code == expected
