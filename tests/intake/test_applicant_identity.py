"""The applicant's clear identity at intake: sealed at rest, read by a named service only, every
read logged, keys rotated, clear values of long-closed dossiers erased. Real database and broker."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from services.intake import identity
from services.intake.identity import ApplicantIdentity, Keyring, new_key_line
from tests.intake.harness import client, new_key, processed, received, running_intake

pytestmark = pytest.mark.integration
CCCD, NAME = "001012345645", "Nguyễn Thị Hoa"
TOKEN = "sync-test-token"


@pytest.fixture
def keys_file(tmp_path):
    path = tmp_path / "identity.keys"
    path.write_text(new_key_line("k1") + "\n")
    return path


def returned(code: str) -> dict:
    event = processed(code)
    event["id"], event["type"] = event["id"] + "-r", "dossier.result_returned"
    return event


async def test_sealed_at_rest_read_with_a_service_credential_and_logged(topics, schemas, db, keys_file):
    settings = {
        "identity_keys_file": str(keys_file),
        "service_tokens_sha256": f"sync={hashlib.sha256(TOKEN.encode()).hexdigest()}",
    }
    codes = ["H44.100-260820-0001", "H44.100-260820-0002"]
    async with running_intake(topics, schemas, **settings) as app:
        key = await new_key(app, "simulator", ["H44"])
        async with client(app, key) as c:
            events = [received(codes[0], applicant={"id_number": CCCD, "name": NAME}), received(codes[1])]
            assert (await c.post("/v1/events/batch", json=events)).status_code == 200
            body = {"dossier_codes": codes, "purpose": "portal-sync"}
            assert (await c.post("/internal/v1/applicants/read", json=body)).status_code == 401
            wrong = await c.post("/internal/v1/applicants/read", json=body, headers={"Authorization": "Bearer x"})
            assert wrong.status_code == 401
            ok = await c.post("/internal/v1/applicants/read", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
            assert ok.status_code == 200 and ok.json() == {"applicants": {codes[0]: {"id_number": CCCD, "name": NAME}}}
        async with app.state.runtime.sessionmaker() as session:
            log = await identity.access_log(session)
            sealed = (await session.execute(select(ApplicantIdentity.sealed, ApplicantIdentity.key_id))).all()
        assert [(r["who"], r["dossier_code"], r["purpose"]) for r in log] == [("sync", codes[0], "portal-sync")]
        assert len(sealed) == 1 and sealed[0].key_id == "k1"
        assert CCCD.encode() not in sealed[0].sealed and NAME.encode() not in sealed[0].sealed

        # Rotation: a new key; every row re-sealed with it; the value unchanged.
        keys_file.write_text(keys_file.read_text() + new_key_line("k2") + "\n")
        keyring = Keyring.load(keys_file)
        async with app.state.runtime.sessionmaker() as session, session.begin():
            assert await identity.reseal(session, keyring) == 1
        async with app.state.runtime.sessionmaker() as session, session.begin():
            only_new = Keyring({"k2": keyring.keys["k2"]}, "k2")
            again = await identity.read(session, only_new, codes, who="t", purpose="test")
        assert again[codes[0]].id_number == CCCD and again[codes[0]].name == NAME

        # Retention: closed (result returned) long enough ago -> clear values erased, counts unchanged.
        async with client(app, key) as c:
            assert (await c.post("/v1/events", json=returned(codes[0]))).status_code == 201
        async with db.connect() as conn:
            before = (await conn.execute(text(f'SELECT count(*) FROM "{schemas}intake".accepted_events'))).scalar()
        async with app.state.runtime.sessionmaker() as session, session.begin():
            assert await identity.erase_closed(session, months=1) == 0  # closed just now
            assert await identity.erase_closed(session, 1, now=datetime.now(UTC) + timedelta(days=31)) == 1
        async with app.state.runtime.sessionmaker() as session, session.begin():
            assert await identity.read(session, keyring, codes, who="t", purpose="test") == {}
            assert (await session.execute(select(func.count()).select_from(ApplicantIdentity))).scalar() == 1
        async with db.connect() as conn:
            after = (await conn.execute(text(f'SELECT count(*) FROM "{schemas}intake".accepted_events'))).scalar()
        assert after == before


async def test_without_keys_nothing_clear_is_kept_and_the_endpoint_is_closed(topics, schemas):
    async with running_intake(topics, schemas, service_tokens_sha256="sync=" + "0" * 64) as app:
        key = await new_key(app, "simulator", ["H44"])
        async with client(app, key) as c:
            event = received("H44.100-260820-0003", applicant={"id_number": CCCD, "name": NAME})
            assert (await c.post("/v1/events", json=event)).status_code == 201
            closed = await c.post(
                "/internal/v1/applicants/read",
                json={"dossier_codes": ["x"], "purpose": "p"},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            assert closed.status_code == 503
        async with app.state.runtime.sessionmaker() as session:
            assert (await session.execute(select(func.count()).select_from(ApplicantIdentity))).scalar() == 0


async def test_version_2_events_carry_the_portal_facts_and_version_1_still_passes(topics, schemas):
    code = "H44.100-260820-0004"
    opening = received(code)
    opening["version"] = 2
    opening["data"] |= {
        "summary": "Đăng ký khai sinh cho con",
        "submission_place": "national_portal",
        "form": "post",
        "applicant_type": "citizen",
        "applicant_code": "VNC-1",
        "vneid_authenticated": True,
        "databases_consulted": ["7"],
    }
    component = processed(code) | {
        "id": opening["id"] + "-c",
        "type": "dossier.component_recorded",
        "version": 2,
        "data": {
            "component_code": "TP1",
            "from_personal_data_store": True,
            "file_name": "to-khai.pdf",
            "file_url": "https://files.example/tk.pdf",
        },
    }
    result = processed(code) | {
        "id": opening["id"] + "-k",
        "type": "dossier.result_recorded",
        "version": 2,
        "data": {
            "result_code": "KQ1",
            "electronic": True,
            "file_name": "kq.pdf",
            "file_url": "https://files.example/kq.pdf",
            "in_citizen_store": True,
        },
    }
    bad = processed(code) | {
        "id": opening["id"] + "-x",
        "type": "dossier.component_recorded",
        "version": 2,
        "data": {"component_code": "TP2", "file_url": "not a link"},
    }
    async with running_intake(topics, schemas) as app:
        key = await new_key(app, "simulator", ["H44"])
        async with client(app, key) as c:
            answer = await c.post("/v1/events/batch", json=[opening, component, result, bad, received(code + "1")])
    assert [r["status"] for r in answer.json()["results"]] == [
        "accepted",
        "accepted",
        "accepted",
        "rejected",
        "accepted",
    ]
    assert [e["field"] for e in answer.json()["results"][3]["errors"]] == ["data.file_url"]
