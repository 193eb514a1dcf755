"""The connector's API: each dossier's request and document, rejections, failures, re-sends."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from services.sync import backlog
from services.sync.api import Failure, Period, Reconciled, Requeued
from services.sync.config import SettingsDep
from services.sync.deps import DocsysDep
from services.sync.documents.models import DocsysDocument, DocsysRejection, DocsysRequest, DocsysStatus
from services.sync.documents.push import PusherDep, answer_for, check_organ
from services.sync.documents.receive import NotYet, receive, receiving_system
from services.sync.documents.tables import DOCSYS
from services.sync.reconcile import reconcile
from shared.auth import OPERATOR, ReaderDep, check_dossier, may_read, readable
from shared.deps import RuntimeDep, SessionDep, Timestamp
from shared.events import DOSSIER_CODE_PATTERN, DossierCode

router = APIRouter(prefix="/v1/documents", tags=["documents"])
Limit = Annotated[int, Query(ge=1, le=10_000, description="at most this many rows")]


class Codes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dossier_codes: list[DossierCode] | None = Field(
        default=None, max_length=10_000, description="None: every one that qualifies"
    )


class DocumentOut(BaseModel):
    document_id: str = Field(description="the issuer's edXML DocumentId")
    number: str = Field(description="số")
    symbol: str = Field(description="ký hiệu")
    code: str = Field(description="number/symbol")
    promulgated_on: date
    signer: str
    signer_position: str
    file_name: str | None
    file_bytes: int


class WithdrawnOut(DocumentOut):
    withdrawn_at: Timestamp = Field(description="when the recall was agreed (status 15)")


class RequestOut(BaseModel):
    dossier_code: str
    unit_code: str
    state: str = Field(description="requested, arrived, accepted, waiting, processing, issued, refused or recalled")
    requested_at: Timestamp
    document: DocumentOut | None = Field(description="the live document, once issued")


class RejectionOut(BaseModel):
    id: int
    reason: str
    dossier_code: str | None
    received_at: Timestamp
    envelope_bytes: int
    envelope_sha256: str


class Resent(BaseModel):
    resent: int = Field(description="requests queued to be sent again")


class Received(BaseModel):
    outcome: str = Field(description="recorded or duplicate")
    dossier_code: str | None


class StatusOut(BaseModel):
    status: str = Field(description="the edXML StatusCode (01…16)")
    at: Timestamp
    description: str


class DossierDocuments(BaseModel):
    dossier_code: str
    state: str = Field(description="the request's state, or queued before it was sent")
    queued: bool
    document: DocumentOut | None
    withdrawn: list[WithdrawnOut]
    statuses: list[StatusOut]


def _fields(d: DocsysDocument) -> dict[str, Any]:
    return {
        "document_id": d.document_id,
        "number": d.number,
        "symbol": d.symbol,
        "code": f"{d.number}/{d.symbol}",
        "promulgated_on": d.promulgated_on,
        "signer": d.signer,
        "signer_position": d.signer_position,
        "file_name": d.file_name,
        "file_bytes": len(d.file or b""),
    }


def _document(d: DocsysDocument | None) -> DocumentOut | None:
    return None if d is None else DocumentOut(**_fields(d))


@router.get("")
async def list_requests(
    session: SessionDep, reader: ReaderDep, unit: str | None = None, limit: Limit = 10_000
) -> list[RequestOut]:
    """Every signing request (of the reader's units) with its state and, once issued, its number."""
    query = (
        select(DocsysRequest, DocsysDocument)
        .outerjoin(
            DocsysDocument,
            (DocsysDocument.dossier_code == DocsysRequest.dossier_code) & DocsysDocument.withdrawn_at.is_(None),
        )
        .where(readable(reader, DocsysRequest.dossier_code))
        .order_by(DocsysRequest.dossier_code)
        .limit(limit)
    )
    rows = (await session.execute(query)).tuples().all()
    answer = [
        RequestOut(
            dossier_code=r.dossier_code,
            unit_code=(r.record or {})["unit_code"],
            state=r.state,
            requested_at=r.synced_at,
            document=_document(d),
        )
        for r, d in rows
    ]
    return [a for a in answer if unit is None or a.unit_code == unit]


@router.get("/rejections")
async def rejections(session: SessionDep, reader: ReaderDep, limit: Limit = 1000) -> list[RejectionOut]:
    """Envelopes refused on the way in, with the reason (each also went to the dead-letter topic);
    only their size, sha256 and first 4 KB were kept. Those naming no dossier of the reader's
    units are for province-wide readers only."""
    query = (
        select(DocsysRejection)
        .where(readable(reader, DocsysRejection.dossier_code))
        .order_by(DocsysRejection.id)
        .limit(limit)
    )
    rows = (await session.execute(query)).scalars()
    return [
        RejectionOut(
            id=r.id,
            reason=r.reason,
            dossier_code=r.dossier_code,
            received_at=r.received_at,
            envelope_bytes=r.envelope_size,
            envelope_sha256=r.envelope_sha256,
        )
        for r in rows
    ]


@router.get("/failures")
async def failures(session: SessionDep, settings: SettingsDep, reader: ReaderDep, limit: Limit = 1000) -> list[Failure]:
    """Signing requests the document system refused, or that failed failure_attempts times."""
    rows = await backlog.failures(session, min_attempts=settings.failure_attempts, limit=limit, tables=DOCSYS)
    return [Failure(**r) for r in rows if may_read(reader, r["dossier_code"])]


@router.post("/requeue", dependencies=[OPERATOR])
async def requeue(session: SessionDep, settings: SettingsDep, body: Codes) -> Requeued:
    """Try failing signing requests again now."""
    async with session.begin():
        count = await backlog.requeue(
            session, body.dossier_codes, min_attempts=settings.failure_attempts, tables=DOCSYS
        )
    return Requeued(requeued=count)


@router.post("/resend", dependencies=[OPERATOR])
async def resend(session: SessionDep, body: Codes) -> Resent:
    """Send again the requests the document system refused (02), or whose document was recalled (15)."""
    async with session.begin():
        query = select(DocsysRequest.dossier_code).where(DocsysRequest.state.in_(["refused", "recalled"]))
        if body.dossier_codes:
            query = query.where(DocsysRequest.dossier_code.in_(body.dossier_codes))
        codes = list((await session.execute(query)).scalars())
        count = await backlog.requeue_from_state(session, codes, tables=DOCSYS)
    return Resent(resent=count)


@router.post(
    "/inbox",
    status_code=200,
    responses={
        401: {"description": "No valid document-system credential (X-API-Key); nothing is read"},
        403: {"description": "The envelope's sender is an organ the credential may not push for; nothing changes"},
        413: {"description": "The body is larger than SYNC_MAX_BODY_BYTES"},
        422: {"description": "Rejected (recorded with its reason, its sha256, size and first 4 KB)"},
    },
)
async def push(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    settings: SettingsDep,
    docsys: DocsysDep,
    system: PusherDep,
) -> Received:
    """An envelope pushed by an authenticated document system (then the same path as the polled
    ones); 422 when rejected."""
    raw = await request.body()
    check_organ(raw, system)
    # Who receives it, and with which trust store: the connector's, when it runs.
    receiver = docsys.system if docsys else receiving_system(settings.docsys_organ_id, settings.docsys_organ_name)
    try:
        async with session.begin():
            outcome = await receive(
                session, raw, topics=runtime.topics, system=receiver, verifier=docsys.verifier if docsys else None
            )
    except NotYet as exc:
        raise HTTPException(
            409, detail="the request this answers is still being sent; retry", headers={"Retry-After": "1"}
        ) from exc
    runtime.relay.wake()
    if outcome["outcome"] == "rejected":
        raise HTTPException(422, detail=answer_for(system, outcome))
    return Received(outcome=outcome["outcome"], dossier_code=outcome["dossier_code"])


@router.get("/{dossier_code}")
async def dossier(
    session: SessionDep,
    reader: ReaderDep,
    dossier_code: Annotated[str, Path(pattern=DOSSIER_CODE_PATTERN, max_length=64)],
) -> DossierDocuments:
    """One dossier's signing request, its document and the status messages, in order."""
    check_dossier(reader, dossier_code)
    req = await session.get(DocsysRequest, dossier_code)
    queued = await session.get(DOCSYS.backlog, dossier_code)
    if req is None and queued is None:
        raise HTTPException(404, detail=f"no signing request for {dossier_code}")
    docs = (
        (
            await session.execute(
                select(DocsysDocument)
                .where(DocsysDocument.dossier_code == dossier_code)
                .order_by(DocsysDocument.received_at)
            )
        )
        .scalars()
        .all()
    )
    doc = next((d for d in docs if d.withdrawn_at is None), None)
    statuses = (
        await session.execute(
            select(DocsysStatus).where(DocsysStatus.dossier_code == dossier_code).order_by(DocsysStatus.at)
        )
    ).scalars()
    return DossierDocuments(
        dossier_code=dossier_code,
        state=req.state if req else "queued",
        queued=queued is not None,
        document=_document(doc),
        withdrawn=[WithdrawnOut(**_fields(d), withdrawn_at=d.withdrawn_at) for d in docs if d.withdrawn_at],
        statuses=[StatusOut(status=s.status, at=s.at, description=s.description) for s in statuses],
    )


@router.post("/reconcile", dependencies=[OPERATOR])
async def reconcile_documents(
    runtime: RuntimeDep, settings: SettingsDep, docsys: DocsysDep, body: Period
) -> Reconciled:
    """Ask the document system about every signing request of the period; send again those it
    does not hold (a lost request)."""
    if docsys is None:
        raise HTTPException(409, detail="the document-system connector is off (SYNC_DOCSYS_URL unset)")
    return Reconciled(
        **await reconcile(
            runtime.sessionmaker,
            docsys,
            start=body.start,
            end=body.end,
            concurrency=settings.reconcile_concurrency,
            tables=DOCSYS,
            differs=lambda found, held: found is None,
        )
    )
