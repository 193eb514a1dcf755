"""An envelope from the document system: checked, recorded, turned into a lifecycle event.

Everything happens in the caller's transaction: the document or status row, its intake event
in the outbox (to dossier-events, as a counter system's event would go), or the rejection
row with its dead-letter record. An envelope offered again changes nothing (same row, same
deterministic event id).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.docsys_simulator.edxml import Document, EdxmlError, StatusMessage
from services.docsys_simulator.edxml_read import parse
from services.sync.documents.models import DocsysBacklog, DocsysDocument, DocsysRequest, DocsysStatus
from services.sync.documents.rejections import reject
from shared.event_types import DocumentStatus, ResultRecorded
from shared.events import make_event, serialize
from shared.outbox import add_to_outbox
from shared.topics import Topics

SOURCE = "document-system"


class NotYet(Exception):
    """An answer to a request still being sent (it is in the backlog): take it at the next poll."""


class Mismatch(Exception):
    """A valid envelope that does not fit what we sent: its message is the recorded reason."""

    def __init__(self, reason: str, dossier_code: str | None = None):
        super().__init__(reason)
        self.dossier_code = dossier_code


async def receive(session: AsyncSession, raw: bytes, *, topics: Topics, organ_id: str) -> dict:
    """{"outcome": recorded | duplicate | rejected, ...}; the rejected ones say why.

    Raises NotYet for an answer that overtook our record of its request (leave it, take it later)."""
    code = None
    try:
        msg = parse(raw)
        # A savepoint: an envelope refused half-way (e.g. a date outside the event contract's
        # years, found when its event is built) leaves no row behind, only its rejection.
        async with session.begin_nested():
            request = await _request_for(session, msg, organ_id)
            code = request.dossier_code
            if isinstance(msg, Document):
                outcome = await _document(session, msg, request, topics)
            else:
                outcome = await _status(session, msg, request, raw, topics)
        return {"outcome": outcome, "dossier_code": code}
    except (EdxmlError, Mismatch, ValidationError) as exc:  # ValidationError: outside the event contract
        code = getattr(exc, "dossier_code", None) or code
        await reject(session, raw, str(exc), code, topics)
        return {"outcome": "rejected", "reason": str(exc), "dossier_code": code}


async def _request_for(session: AsyncSession, msg: Document | StatusMessage, organ_id: str) -> DocsysRequest:
    if msg.receiver.id != organ_id:
        raise Mismatch(f"wrong unit: addressed to {msg.receiver.id}, this system is {organ_id}")
    if msg.response_for is None:
        raise Mismatch("no ResponseFor: the envelope does not say which signing request it answers")
    organ, code = msg.response_for
    if organ != organ_id:
        raise Mismatch(f"wrong unit: it answers a document of {organ}, not of {organ_id}", code)
    request = await session.get(DocsysRequest, code)
    if request is None and await session.get(DocsysBacklog, code) is not None:
        raise NotYet(f"the signing request of {code} is still being sent")
    if request is None:
        raise Mismatch(f"unknown dossier {code}: no signing request was sent for it")
    unit = request.record["unit_code"]
    if msg.sender.id != unit:
        raise Mismatch(f"wrong unit: dossier {code} is handled by {unit}, the envelope comes from {msg.sender.id}",
                       code)
    return request


async def _document(session: AsyncSession, doc: Document, request: DocsysRequest, topics: Topics) -> str:
    code = request.dossier_code
    missing = [n for n, v in (("Code", doc.code_number), ("PromulgationInfo", doc.promulgated_on),
                              ("SignerInfo", doc.signer)) if v is None]
    if missing:
        raise Mismatch(f"not an issued document: {', '.join(missing)} missing", code)
    held = await session.get(DocsysDocument, doc.document_id)
    if held is not None:
        if held.dossier_code == code and (held.number, held.symbol) == (doc.code_number, doc.code_notation):
            return "duplicate"  # offered again before our acknowledgement reached it
        raise Mismatch(f"duplicate document id {doc.document_id}: already recorded as {held.number}/{held.symbol} "
                       f"for dossier {held.dossier_code}", code)
    other = (await session.execute(select(DocsysDocument).where(DocsysDocument.dossier_code == code))).scalar()
    if other is not None:
        raise Mismatch(f"dossier {code} already has document {other.number}/{other.symbol} "
                       f"(id {other.document_id})", code)
    file = doc.attachments[0] if doc.attachments else None
    session.add(DocsysDocument(
        document_id=doc.document_id, dossier_code=code, unit_code=doc.sender.id, number=doc.code_number,
        symbol=doc.code_notation, promulgated_on=doc.promulgated_on, signer=doc.signer.full_name,
        signer_position=doc.signer.position, file_name=file.name if file else None, file=file.data if file else None,
    ))
    await session.execute(update(DocsysRequest).where(DocsysRequest.dossier_code == code).values(state="issued"))
    promulgated = datetime.combine(doc.promulgated_on, datetime.min.time(), UTC)
    data = ResultRecorded(result_code=f"{doc.code_number}/{doc.code_notation}"[:64], electronic=True, digitized=True,
                          document_number=doc.code_number, document_symbol=doc.code_notation,
                          promulgated_at=promulgated, signer=doc.signer.full_name)
    await _publish(session, topics, code, f"{code}:docsys-result", "dossier.result_recorded", data)
    return "recorded"


async def _status(session: AsyncSession, msg: StatusMessage, request: DocsysRequest, raw: bytes,
                  topics: Topics) -> str:
    code, digest = request.dossier_code, hashlib.sha256(raw).hexdigest()
    stmt = insert(DocsysStatus).values(digest=digest, dossier_code=code, status=msg.status,
                                       description=msg.description, at=msg.timestamp)
    if not (await session.execute(stmt.on_conflict_do_nothing().returning(DocsysStatus.digest))).first():
        return "duplicate"
    if request.state != "issued":  # a late "assigned" never hides an issued document
        await session.execute(update(DocsysRequest).where(DocsysRequest.dossier_code == code)
                              .values(state=msg.status if msg.status != "done" else request.state))
    data = DocumentStatus(document_id=msg.response_for[1], status=msg.status, organ_id=msg.sender.id,
                          note=msg.description[:2000] or None)
    await _publish(session, topics, code, f"{code}:ds-{digest[:16]}", "dossier.document_status", data,
                   at=msg.timestamp)
    return "recorded"


async def _publish(session: AsyncSession, topics: Topics, code: str, event_id: str, type_: str, data,
                   at: datetime | None = None) -> None:
    event = make_event(event_id=event_id, type=type_, source=SOURCE, subject=code,
                       time=at or datetime.now(UTC), data=data)
    await add_to_outbox(session, [(topics.dossier_events, code, serialize(event))])
