"""An envelope from the document system: checked, recorded, turned into a lifecycle event.

Everything happens in the caller's transaction: the document or status row, its intake event
in the outbox (to dossier-events, as a counter system's event would go), or the rejection
row with its dead-letter record. An envelope offered again changes nothing (same row, same
deterministic event id).

What must be signed: an issued document (it becomes the dossier's result) and a recall agreed
(15, it withdraws one). Both need a valid XML-DSig signature from a certificate in the trust
store; unsigned, tampered or untrusted ones are refused with the reason and change nothing.
Other status messages are verified when they carry a signature.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.sync.documents import edxml
from services.sync.documents.edxml import Document, EdxmlError, Organ, StatusMessage, parse
from services.sync.documents.models import DocsysBacklog, DocsysDocument, DocsysRequest, DocsysStatus
from services.sync.documents.organs import organ, unit_code, units
from services.sync.documents.rejections import reject
from services.sync.documents.request import dossier_of, request_document_id
from services.sync.documents.signing import DSIG, Verifier
from shared.event_types import DocumentStatusV2, ResultRecorded
from shared.events import make_event, serialize
from shared.outbox import add_to_outbox
from shared.topics import Topics

SOURCE = "document-system"
# The request's state after each status about it; FINISHED waits for the document itself.
REQUEST_STATES = {
    edxml.ARRIVED: "arrived",
    edxml.REFUSED: "refused",
    edxml.ACCEPTED: "accepted",
    edxml.WAITING: "waiting",
    edxml.PROCESSING: "processing",
    edxml.FINISHED: "finished",
}
MUST_BE_SIGNED = {edxml.RECALL_AGREED}


class NotYet(Exception):
    """An answer to a request still being sent (it is in the backlog): take it at the next poll."""


class Mismatch(Exception):
    """A valid envelope that does not fit what we sent: its message is the recorded reason."""

    def __init__(self, reason: str, dossier_code: str | None = None):
        super().__init__(reason)
        self.dossier_code = dossier_code


def receiving_system(unit: str, name: str | None = None) -> Organ:
    """This dossier system as an edXML organ (its unit's national identifier)."""
    return organ(unit, name)


async def receive(
    session: AsyncSession, raw: bytes, *, topics: Topics, system: Organ, verifier: Verifier | None
) -> dict:
    """{"outcome": recorded | duplicate | rejected, ...}; the rejected ones say why.

    Raises NotYet for an answer that overtook our record of its request (leave it, take it later)."""
    code = None
    try:
        msg = parse(raw, verifier)
        # A savepoint: an envelope refused half-way (e.g. a date outside the event contract's
        # years, found when its event is built) leaves no row behind, only its rejection.
        async with session.begin_nested():
            if isinstance(msg, Document):
                answered = await _request_answered(session, msg, system)
                code = answered.dossier_code
                _signed(msg, verifier, "an issued document", code)
                outcome = await _document(session, msg, answered, topics)
            else:
                code, about = await _subject_of(session, msg, system)
                if msg.code in MUST_BE_SIGNED:
                    _signed(msg, verifier, f"a status {msg.code} ({edxml.STATUS_CODES[msg.code]})", code)
                outcome = await _status(session, msg, code, about, raw, topics)
        return {"outcome": outcome, "dossier_code": code}
    except (EdxmlError, Mismatch, ValidationError) as exc:  # ValidationError: outside the event contract
        concerned = getattr(exc, "dossier_code", None) or code
        await reject(session, raw, str(exc), concerned, topics)
        return {"outcome": "rejected", "reason": str(exc), "dossier_code": concerned}


def _signed(msg: Document | StatusMessage, verifier: Verifier | None, what: str, code: str) -> None:
    if verifier is None:
        raise Mismatch(
            f"cannot verify: no trust store is configured (SYNC_DOCSYS_TRUST_STORE), so {what} cannot be accepted", code
        )
    if msg.signed_by is None:
        raise Mismatch(f"unsigned: {what} must carry an XML-DSig signature ({DSIG})", code)


async def _request_of(session: AsyncSession, request_id: str, system: Organ) -> DocsysRequest:
    """Our signing request named by this DocumentId (from a ResponseFor)."""
    code = dossier_of(request_id, system)
    if code is None:
        raise Mismatch(f"unknown document {request_id}: not a signing request of {system.id}")
    request = await session.get(DocsysRequest, code)
    if request is None and await session.get(DocsysBacklog, code) is not None:
        raise NotYet(f"the signing request of {code} is still being sent")
    if request is None:
        raise Mismatch(f"unknown dossier {code}: no signing request was sent for it")
    sent = request_document_id(request.record or {"dossier_code": code}, system)
    if sent != request_id:
        raise Mismatch(f"unknown document {request_id}: the signing request of {code} is {sent}", code)
    return request


def _from_its_unit(msg: Document | StatusMessage, request: DocsysRequest) -> None:
    unit: str = (request.record or {}).get("unit_code", "")
    if unit_code(msg.sender.id) != unit:
        national = organ(unit).id if unit in units() else "?"
        raise Mismatch(
            f"wrong unit: dossier {request.dossier_code} is handled by {unit} "
            f"({national}), the envelope comes from {msg.sender.id}",
            request.dossier_code,
        )


async def _request_answered(session: AsyncSession, doc: Document, system: Organ) -> DocsysRequest:
    if system.id not in [r.id for r in doc.receivers]:
        raise Mismatch(f"wrong unit: addressed to {', '.join(r.id for r in doc.receivers)}, this system is {system.id}")
    ours = [r for r in doc.response_for if r.organ_id == system.id]
    if not ours:
        raise Mismatch("no ResponseFor: the document does not say which signing request it answers")
    request = await _request_of(session, ours[0].document_id, system)
    _from_its_unit(doc, request)
    return request


async def _subject_of(session: AsyncSession, msg: StatusMessage, system: Organ) -> tuple[str, DocsysRequest | None]:
    """(dossier code, its request when the status is about the request). A status is about our
    signing request (ResponseFor names our document) or about a document issued to us (a recall)."""
    ref = msg.response_for
    if ref.organ_id == system.id:
        request = await _request_of(session, ref.document_id, system)
        _from_its_unit(msg, request)
        return request.dossier_code, request
    held = await session.get(DocsysDocument, ref.document_id)
    if held is None:
        raise Mismatch(f"unknown document {ref.document_id}: no signing request or issued document of ours")
    if msg.sender.id != ref.organ_id or unit_code(ref.organ_id) != held.unit_code:
        raise Mismatch(
            f"wrong unit: document {ref.document_id} was issued by {held.unit_code}, "
            f"the status comes from {msg.sender.id}",
            held.dossier_code,
        )
    return held.dossier_code, None


async def _document(session: AsyncSession, doc: Document, request: DocsysRequest, topics: Topics) -> str:
    code = request.dossier_code
    if doc.signer is None:
        raise Mismatch("not an issued document: SignerInfo missing", code)
    held = await session.get(DocsysDocument, doc.document_id)
    if held is not None:
        if held.dossier_code == code and (held.number, held.symbol) == (doc.number, doc.notation):
            return "duplicate"  # offered again before our acknowledgement reached it
        raise Mismatch(
            f"duplicate document id {doc.document_id}: already recorded as {held.number}/{held.symbol} "
            f"for dossier {held.dossier_code}",
            code,
        )
    live = (
        await session.execute(
            select(DocsysDocument).where(DocsysDocument.dossier_code == code, DocsysDocument.withdrawn_at.is_(None))
        )
    ).scalar()
    if live is not None:
        raise Mismatch(
            f"dossier {code} already has document {live.number}/{live.symbol} "
            f"(id {live.document_id}); it must be recalled first",
            code,
        )
    file = doc.attachments[0] if doc.attachments else None
    session.add(
        DocsysDocument(
            document_id=doc.document_id,
            dossier_code=code,
            unit_code=unit_code(doc.sender.id),
            number=doc.number,
            symbol=doc.notation,
            promulgated_on=doc.promulgated_on,
            signer=doc.signer.full_name,
            signer_position=doc.signer.position,
            file_name=file.name if file else None,
            file=file.data if file else None,
            signed_by=doc.signed_by,
        )
    )
    await session.execute(update(DocsysRequest).where(DocsysRequest.dossier_code == code).values(state="issued"))
    promulgated = datetime.combine(doc.promulgated_on, datetime.min.time(), edxml.VN)
    data = ResultRecorded(
        result_code=doc.code[:64],
        electronic=True,
        digitized=True,
        document_number=doc.number,
        document_symbol=doc.notation,
        promulgated_at=promulgated,
        signer=doc.signer.full_name,
        document_id=doc.document_id,
    )
    # One event per issued document: a dossier may get a second one after a recall.
    event_id = f"{code}:docsys-{hashlib.sha256(doc.document_id.encode()).hexdigest()[:16]}"
    # At the issuer's own time (its trace), so that a recall it stamps later always folds after it.
    issued_at = doc.traces[-1].at if doc.traces else None
    await _publish(session, topics, code, event_id, "dossier.result_recorded", data, at=issued_at)
    return "recorded"


async def _status(
    session: AsyncSession, msg: StatusMessage, code: str, request: DocsysRequest | None, raw: bytes, topics: Topics
) -> str:
    digest = hashlib.sha256(raw).hexdigest()
    stmt = insert(DocsysStatus).values(
        digest=digest, dossier_code=code, status=msg.code, description=msg.description, at=msg.timestamp
    )
    if not (await session.execute(stmt.on_conflict_do_nothing().returning(DocsysStatus.digest))).first():
        return "duplicate"
    if request is not None and request.state != "issued" and msg.code in REQUEST_STATES:
        # a late status of the request never hides its issued document
        await session.execute(
            update(DocsysRequest).where(DocsysRequest.dossier_code == code).values(state=REQUEST_STATES[msg.code])
        )
    if msg.code == edxml.RECALL_AGREED:
        await _withdraw(session, code, msg.response_for.document_id)
    data = DocumentStatusV2.model_validate(
        {
            "document_id": msg.response_for.document_id,
            "status_code": msg.code,
            "organ_id": unit_code(msg.sender.id),
            "note": msg.description[:2000] or None,
        }
    )
    await _publish(
        session, topics, code, f"{code}:ds-{digest[:16]}", "dossier.document_status", data, at=msg.timestamp, version=2
    )
    return "recorded"


async def _withdraw(session: AsyncSession, code: str, document_id: str) -> None:
    """A recall agreed: the document no longer stands; the request may be sent again."""
    withdrawn = await session.execute(
        update(DocsysDocument)
        .where(DocsysDocument.document_id == document_id, DocsysDocument.withdrawn_at.is_(None))
        .values(withdrawn_at=datetime.now(UTC))
        .returning(DocsysDocument.document_id)
    )
    if withdrawn.first():
        await session.execute(update(DocsysRequest).where(DocsysRequest.dossier_code == code).values(state="recalled"))


async def _publish(
    session: AsyncSession,
    topics: Topics,
    code: str,
    event_id: str,
    type_: str,
    data,
    at: datetime | None = None,
    version: int = 1,
) -> None:
    event = make_event(
        event_id=event_id,
        type=type_,
        source=SOURCE,
        subject=code,
        time=at or datetime.now(UTC),
        data=data,
        version=version,
    )
    await add_to_outbox(session, [(topics.dossier_events, code, serialize(event))])
