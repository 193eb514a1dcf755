"""Probe (critical): anyone could push an "issued document" for any dossier to sync's
POST /v1/documents/inbox. Now only a document system with its own hashed credential, bound to
the organs it speaks for, may push; everyone else learns nothing and changes nothing.
Also (high): rejections keep a hash, the size and the first 4 KB, never the whole envelope."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select

from services.sync.documents.edxml import Attachment, Document, DocumentRef, Signer, Trace, build_document
from services.sync.documents.models import DocsysDocument, DocsysRejection, DocsysRequest
from services.sync.documents.organs import organ
from services.sync.documents.push import PUSHERS
from services.sync.documents.rejections import HEAD_BYTES
from services.sync.documents.request import DECISION_TYPE, request_document_id
from shared.tables import outbox
from shared.units import load_units
from tests.conftest import DATABASE_URL, dead_letters
from tests.docsys.conftest import pki  # noqa: F401  (the fixture)
from tests.security.harness import READER, bearer, client, running_sync, tokens  # noqa: F401

pytestmark = pytest.mark.integration
VN = ZoneInfo("Asia/Ho_Chi_Minh")
CODE = "H44.100-260803-0001"
SYSTEM = organ("H44", "Hệ thống thông tin giải quyết thủ tục hành chính tỉnh Phú Thọ")
UNIT = organ("H44.100")
RECORD = {
    "dossier_code": CODE,
    "unit_code": "H44.100",
    "unit_name": UNIT.name,
    "procedure_code": "1.004227",
    "subject": "Cấp phép",
    "requested_at": "2026-08-03T10:00:00+07:00",
}
REQUEST = DocumentRef(SYSTEM.id, f"{CODE}/PTr-HCC", date(2026, 8, 3), request_document_id(RECORD, SYSTEM))


@pytest.fixture
def sync_settings(pki):  # noqa: F811
    """The connector on (its trust store verifies pushed documents too), polling nobody."""
    return {
        "docsys_url": "http://127.0.0.1:9",
        "docsys_trust_store": str(pki["paths"]["trust_store"]),
        "docsys_poll_seconds": 60,
    }


def issued(pki, number: str, signer: str, on: date = date(2026, 8, 4), sender=UNIT) -> bytes:  # noqa: F811
    """A document issued by the dossier's unit (by default), signed with the document system's key."""
    return build_document(
        Document(
            sender=sender,
            receivers=(SYSTEM,),
            number=number,
            notation="QĐ-UBND",
            place="Phú Thọ",
            promulgated_on=on,
            type=DECISION_TYPE,
            subject="Quyết định cấp phép",
            signer=Signer("TM. Ủy ban nhân dân", "Chủ tịch", signer),
            response_for=(REQUEST,),
            traces=(Trace(UNIT.id, datetime(2026, 8, 4, 9, tzinfo=VN)),),
            attachments=(Attachment("qd.txt", "text/plain", "Quyết định".encode()),),
        ),
        pki["docsys"],
    )


async def requested(app) -> None:
    """The signing request sync sent for CODE (as the delivery worker records it)."""
    async with app.state.runtime.sessionmaker() as session, session.begin():
        await session.execute(
            insert(DocsysRequest).values(
                dossier_code=CODE,
                revision=3,
                status=4,
                received_at=datetime(2026, 8, 3, 2, tzinfo=VN),
                record=RECORD,
                state="accepted",
            )
        )


async def credential(app, name: str, organs: list[str]) -> str:
    async with app.state.runtime.sessionmaker() as session, session.begin():
        return await PUSHERS.create(session, name=name, units=organs, tree=load_units())


async def snapshot(app) -> tuple:
    """Everything a push can change: documents, rejections, the outbox, the request's state."""
    async with app.state.runtime.sessionmaker() as session:
        count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
        return (
            await count(DocsysDocument),
            await count(DocsysRejection),
            await count(outbox),
            (await session.get(DocsysRequest, CODE)).state,
        )


async def test_a_forged_document_without_a_credential_is_401_says_nothing_and_changes_nothing(
    topics,
    schemas,
    pki,  # noqa: F811
    sync_settings,
):
    async with running_sync(topics, schemas, **sync_settings) as app:
        await requested(app)
        before = await snapshot(app)
        forged = issued(pki, "999999", "Attacker")
        for headers in (
            {},
            {"X-API-Key": "nonsense"},
            {"X-API-Key": "ds.000000000000.guess"},
            {"X-API-Key": "dk.000000000000.an-intake-key"},
        ):
            async with client(app, **headers) as c:
                answer = await c.post("/v1/documents/inbox", content=forged)
            assert answer.status_code == 401, headers
            assert CODE not in answer.text and "H44.100" not in answer.text  # nothing about dossiers
        # Nor for an envelope about a dossier that does not exist (no oracle on dossier codes).
        async with client(app) as c:
            assert (await c.post("/v1/documents/inbox", content=b"<junk/>")).status_code == 401
        assert await snapshot(app) == before


async def test_a_document_from_an_organ_the_credential_does_not_cover_is_403_and_changes_nothing(
    topics,
    schemas,
    pki,  # noqa: F811
    sync_settings,
):
    async with running_sync(topics, schemas, **sync_settings) as app:
        await requested(app)
        other = await credential(app, "vanban-h44-101", ["H44.101"])
        before = await snapshot(app)
        async with client(app, **{"X-API-Key": other}) as c:
            # It claims to come from H44.100 (the dossier's unit), which its credential does not cover.
            answer = await c.post("/v1/documents/inbox", content=issued(pki, "999999", "Attacker"))
        assert answer.status_code == 403 and UNIT.id in answer.json()["detail"]
        assert await snapshot(app) == before
        # As its own organ, about another unit's dossier: refused, and the answer does not say
        # which unit handles the dossier (the recorded reason does, for the operators).
        async with client(app, **{"X-API-Key": other}) as c:
            answer = await c.post(
                "/v1/documents/inbox", content=issued(pki, "999999", "Attacker", sender=organ("H44.101"))
            )
        assert answer.status_code == 422 and "H44.100" not in answer.text and UNIT.id not in answer.text


async def test_the_genuine_document_system_pushes_and_the_forgery_did_not_take_its_place(
    topics,
    schemas,
    pki,  # noqa: F811
    sync_settings,
):
    async with running_sync(topics, schemas, **sync_settings) as app:
        await requested(app)
        genuine = await credential(app, "vanban-h44", ["H44"])
        async with client(app) as c:
            assert (await c.post("/v1/documents/inbox", content=issued(pki, "999999", "Attacker"))).status_code == 401
        async with client(app, **{"X-API-Key": genuine}) as c:
            answer = await c.post("/v1/documents/inbox", content=issued(pki, "12", "Lê Quang Vinh"))
        assert answer.status_code == 200 and answer.json()["outcome"] == "recorded", answer.text
        async with app.state.runtime.sessionmaker() as session:
            doc = (await session.execute(select(DocsysDocument))).scalar_one()
        assert (doc.dossier_code, doc.number, doc.signer) == (CODE, "12", "Lê Quang Vinh")


async def test_a_revoked_push_credential_is_refused_at_once(topics, schemas, pki):  # noqa: F811
    async with running_sync(topics, schemas) as app:
        await requested(app)
        key = await credential(app, "vanban-h44", ["H44.100"])
        async with app.state.runtime.sessionmaker() as session, session.begin():
            assert await PUSHERS.revoke(session, name="vanban-h44") == 1
        async with client(app, **{"X-API-Key": key}) as c:
            assert (await c.post("/v1/documents/inbox", content=issued(pki, "12", "x"))).status_code == 401


async def test_an_oversized_push_is_413_before_it_is_read_and_nothing_is_stored(topics, schemas):
    async with running_sync(topics, schemas, max_body_bytes=64 * 1024) as app:
        await requested(app)
        key = await credential(app, "vanban-h44", ["H44"])
        before = await snapshot(app)
        async with client(app, **{"X-API-Key": key}) as c:
            assert (await c.post("/v1/documents/inbox", content=b"<" * (65 * 1024))).status_code == 413

            async def chunks():  # no Content-Length: counted as it streams in
                for _ in range(20):
                    yield b"x" * 4096

            assert (await c.post("/v1/documents/inbox", content=chunks())).status_code == 413
        assert await snapshot(app) == before


async def test_a_rejection_keeps_the_hash_the_size_and_the_first_4_kb_only(topics, schemas, tokens):  # noqa: F811
    async with running_sync(topics, schemas) as app:
        key = await credential(app, "vanban-h44", ["H44"])
        big = b"<edXML:edXMLEnvelope " + b"a" * 500_000  # malformed, within the body limit
        async with client(app, **{"X-API-Key": key}) as c:
            assert (await c.post("/v1/documents/inbox", content=big)).status_code == 422
        async with client(app) as c:
            assert (await c.get("/v1/documents/rejections")).status_code == 401  # per-dossier details
        async with client(app, **bearer(READER)) as c:
            (listed,) = (await c.get("/v1/documents/rejections")).json()
        sha256 = hashlib.sha256(big).hexdigest()
        assert (listed["envelope_bytes"], listed["envelope_sha256"]) == (len(big), sha256)
        async with app.state.runtime.sessionmaker() as session:
            row = (await session.execute(select(DocsysRejection))).scalar_one()
        assert row.envelope_head == big[:HEAD_BYTES]
        (letter,) = await dead_letters(topics.dead_letter, 1)
        assert (letter["value_bytes"], letter["value_sha256"]) == (len(big), sha256)
        assert len(letter["value"].encode()) <= HEAD_BYTES and len(json.dumps(letter)) < 2 * HEAD_BYTES


def test_the_push_credential_command_creates_lists_and_revokes(schemas):
    env = dict(os.environ, SYNC_DATABASE_URL=DATABASE_URL, SYNC_DB_SCHEMA=f"{schemas}sync")

    def command(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "services.sync.documents.push", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    created = command("create", "--name", "vanban-h44", "--organs", "H44")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().startswith("ds.") and "shown once" in created.stderr
    listed = command("list").stdout
    assert "vanban-h44" in listed and created.stdout.strip().split(".")[2] not in listed
    assert command("create", "--name", "x", "--organs", "H44.999").returncode == 2
    rotated = command("rotate", "--name", "vanban-h44")
    assert rotated.returncode == 0 and rotated.stdout.strip() != created.stdout.strip()
    assert command("revoke", "--name", "vanban-h44").stdout.strip() == "revoked 1 key(s) of vanban-h44"


async def test_a_document_dated_outside_the_contracts_years_is_rejected_not_a_crash(
    topics,
    schemas,
    pki,  # noqa: F811
    sync_settings,
):
    """The event contract admits the years 1900-2100: a document promulgated in 1899 is
    rejected with its reason (a 422 here; a rejection row when polled), never an exception,
    and leaves no document behind."""
    async with running_sync(topics, schemas, **sync_settings) as app:
        await requested(app)
        key = await credential(app, "vanban-h44", ["H44"])
        async with client(app, **{"X-API-Key": key}) as c:
            envelope = issued(pki, "1", "Lê Quang Vinh", on=date(1899, 12, 31))
            answer = await c.post("/v1/documents/inbox", content=envelope)
        assert answer.status_code == 422, answer.text
        assert (await snapshot(app))[:2] == (0, 1)  # no document, one rejection
