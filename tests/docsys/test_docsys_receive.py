"""Receiving from the document system: each status code's effect, signatures required, recall."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from services.sync.documents.edxml import (
    Attachment,
    Document,
    DocumentRef,
    Signer,
    Staff,
    StatusMessage,
    Trace,
    build_document,
    build_status,
)
from services.sync.documents.models import DocsysDocument, DocsysRejection, DocsysRequest
from services.sync.documents.organs import organ
from services.sync.documents.receive import receive
from services.sync.documents.request import DECISION_TYPE, request_document_id
from shared.tables import outbox
from shared.topics import Topics
from tests.sync.test_delivery import sessionmaker  # noqa: F401  (the fixture)

pytestmark = pytest.mark.integration
VN = ZoneInfo("Asia/Ho_Chi_Minh")
TOPICS = Topics("t.")
CODE = "H44.100-260815-0042"
SYSTEM = organ("H44", "Hệ thống thông tin giải quyết TTHC tỉnh Phú Thọ")
UNIT = organ("H44.100")
RECORD = {
    "dossier_code": CODE,
    "unit_code": "H44.100",
    "unit_name": UNIT.name,
    "procedure_code": "1.004227",
    "subject": "Cấp phép",
    "requested_at": "2026-08-15T10:00:00+07:00",
}
REQUEST = DocumentRef(SYSTEM.id, f"{CODE}/PTr-HCC", date(2026, 8, 15), request_document_id(RECORD, SYSTEM))
CLERK = Staff("Văn thư", "Nguyễn Thị Thanh Huyền")


def issued(number: str, day: int = 16) -> Document:
    return Document(
        sender=UNIT,
        receivers=(SYSTEM,),
        number=number,
        notation="QĐ-UBND",
        place="Phú Thọ",
        promulgated_on=date(2026, 8, day),
        type=DECISION_TYPE,
        subject="Quyết định cấp phép",
        signer=Signer("TM. Ủy ban nhân dân", "Chủ tịch", "Lê Quang Vinh"),
        response_for=(REQUEST,),
        traces=(Trace(UNIT.id, datetime(2026, 8, day, 9, tzinfo=VN)),),
        attachments=(Attachment("qd.txt", "text/plain", "Quyết định".encode()),),
    )


def status(code: str, about: DocumentRef = REQUEST, minute: int = 0) -> StatusMessage:
    return StatusMessage(
        sender=UNIT,
        response_for=about,
        staff=CLERK,
        code=code,
        description=f"trạng thái {code}",
        timestamp=datetime(2026, 8, 16, 10, minute, tzinfo=VN),
    )


@pytest.fixture
async def connector(sessionmaker, pki):  # noqa: F811
    async with sessionmaker() as session, session.begin():
        await session.execute(
            insert(DocsysRequest).values(
                dossier_code=CODE, revision=3, status=9, received_at=datetime(2026, 8, 15, tzinfo=VN), record=RECORD
            )
        )

    async def take(raw: bytes, verifier=pki["verifier"]) -> dict:
        async with sessionmaker() as session, session.begin():
            return await receive(session, raw, topics=TOPICS, system=SYSTEM, verifier=verifier)

    async def seen() -> dict:
        async with sessionmaker() as session:
            rows = (await session.execute(select(outbox.c.topic, outbox.c.value).order_by(outbox.c.id))).all()
            request = await session.get(DocsysRequest, CODE)
            docs = (await session.execute(select(DocsysDocument).order_by(DocsysDocument.received_at))).scalars().all()
            rejected = (await session.execute(select(DocsysRejection.reason))).scalars().all()
        events = [json.loads(v) for t, v in rows if t == TOPICS.dossier_events]
        return {
            "state": request.state,
            "events": events,
            "dead": sum(t == TOPICS.dead_letter for t, _ in rows),
            "documents": [(d.number, d.withdrawn_at is not None) for d in docs],
            "rejected": rejected,
        }

    take.seen = seen
    return take


@pytest.mark.parametrize(
    "code, state",
    [
        ("01", "arrived"),
        ("02", "refused"),
        ("03", "accepted"),
        ("04", "waiting"),
        ("05", "processing"),
        ("06", "finished"),
    ],
)
async def test_each_status_code_sets_the_request_s_state_and_goes_to_processing(connector, docsys_key, code, state):
    raw = build_status(status(code), docsys_key)
    assert (await connector(raw))["outcome"] == "recorded"
    assert (await connector(raw))["outcome"] == "duplicate"
    seen = await connector.seen()
    assert seen["state"] == state and len(seen["events"]) == 1
    event = seen["events"][0]
    assert (event["type"], event["version"], event["data"]["status_code"], event["data"]["organ_id"]) == (
        "dossier.document_status",
        2,
        code,
        "H44.100",
    )


async def test_an_unknown_status_code_is_refused_with_its_reason_and_changes_nothing(connector, docsys_key):
    raw = build_status(status("03")).replace(b"<StatusCode>03<", b"<StatusCode>09<")  # as sent, unsigned
    outcome = await connector(raw)
    assert outcome["outcome"] == "rejected" and "unknown status code 09" in outcome["reason"]
    seen = await connector.seen()
    assert (seen["state"], seen["events"], seen["dead"]) == ("requested", [], 1)


async def test_a_signed_issued_document_becomes_the_dossier_s_result(connector, docsys_key):
    raw = build_document(issued("7"), docsys_key)
    assert await connector(raw) == {"outcome": "recorded", "dossier_code": CODE}
    assert (await connector(raw))["outcome"] == "duplicate"
    seen = await connector.seen()
    assert seen["state"] == "issued" and seen["documents"] == [("7", False)]
    data = seen["events"][0]["data"]
    assert (data["document_number"], data["document_symbol"], data["document_id"]) == (
        "7",
        "QĐ-UBND",
        "000.00.30.H44,2026/08/16,7/QĐ-UBND",
    )


@pytest.mark.parametrize(
    "how, reason",
    [
        ("unsigned", "unsigned"),
        ("tampered", "tampered"),
        ("untrusted", "untrusted signer"),
        ("no trust store", "cannot verify"),
    ],
)
async def test_an_issued_document_not_properly_signed_is_refused_and_changes_nothing(connector, pki, how, reason):
    signer = None if how == "unsigned" else pki["stranger" if how == "untrusted" else "docsys"]
    raw = build_document(issued("7"), signer)
    if how == "tampered":
        raw = raw.replace("Quyết định cấp phép".encode(), "Quyết định cấp phéq".encode())
    outcome = await connector(raw, verifier=None if how == "no trust store" else pki["verifier"])
    assert outcome["outcome"] == "rejected" and outcome["reason"].startswith(reason), outcome
    seen = await connector.seen()
    assert (seen["state"], seen["documents"], seen["events"], seen["dead"]) == ("requested", [], [], 1)


async def test_a_recall_agreed_withdraws_the_document_and_a_new_one_may_be_issued(connector, pki, docsys_key):
    first = issued("7")
    await connector(build_document(first, docsys_key))
    second = build_document(issued("9", day=18), docsys_key)
    assert "must be recalled first" in (await connector(second))["reason"]
    assert (await connector(build_status(status("13", first.ref()), docsys_key)))["outcome"] == "recorded"
    assert (await connector.seen())["state"] == "issued"  # a recall started is not yet agreed
    assert (await connector(build_status(status("15", first.ref(), 1))))["reason"].startswith("unsigned")
    assert (await connector(build_status(status("16", first.ref(), 2), docsys_key)))["outcome"] == "recorded"
    assert (await connector.seen())["documents"] == [("7", False)]
    assert (await connector(build_status(status("15", first.ref(), 3), docsys_key)))["outcome"] == "recorded"
    seen = await connector.seen()
    assert seen["state"] == "recalled" and seen["documents"] == [("7", True)]
    assert seen["events"][-1]["data"]["status_code"] == "15"
    assert seen["events"][-1]["data"]["document_id"] == first.document_id
    assert (await connector(second))["outcome"] == "recorded"
    seen = await connector.seen()
    assert seen["state"] == "issued" and seen["documents"] == [("7", True), ("9", False)]
    assert [e["data"].get("document_number") for e in seen["events"] if e["type"] == "dossier.result_recorded"] == [
        "7",
        "9",
    ]


async def test_answers_about_documents_we_never_sent_are_refused(connector, docsys_key):
    stranger = DocumentRef(
        SYSTEM.id,
        "H44.100-200101-9999/PTr-HCC",
        date(2020, 1, 1),
        f"{SYSTEM.id},2020/01/01,H44.100-200101-9999/PTr-HCC",
    )
    assert "unknown dossier" in (await connector(build_status(status("03", stranger), docsys_key)))["reason"]
    other_day = DocumentRef(SYSTEM.id, REQUEST.code, date(2026, 8, 1), f"{SYSTEM.id},2026/08/01,{REQUEST.code}")
    assert "unknown document" in (await connector(build_status(status("03", other_day), docsys_key)))["reason"]
    foreign = StatusMessage(
        sender=organ("H44.101"),
        response_for=REQUEST,
        staff=CLERK,
        code="03",
        description="",
        timestamp=datetime(2026, 8, 16, 10, tzinfo=VN),
    )
    assert "wrong unit" in (await connector(build_status(foreign, docsys_key)))["reason"]
    assert (await connector.seen())["state"] == "requested"
