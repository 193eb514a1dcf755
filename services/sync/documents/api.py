"""The connector's API: each dossier's request and document, rejections, failures, re-sends."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from services.sync import backlog
from services.sync.api import Period
from services.sync.reconcile import reconcile
from services.sync.documents.models import DocsysDocument, DocsysRejection, DocsysRequest, DocsysStatus
from services.sync.documents.push import PusherDep, answer_for, check_organ
from services.sync.documents.receive import NotYet, receive, receiving_system
from services.sync.documents.tables import DOCSYS
from shared.auth import OPERATOR, ReaderDep, check_dossier, may_read, readable
from shared.events import DOSSIER_CODE_PATTERN, DossierCode

router = APIRouter(prefix="/v1/documents", tags=["documents"])
Limit = Annotated[int, Query(ge=1, le=10_000, description="at most this many rows")]


class Codes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dossier_codes: list[DossierCode] | None = Field(default=None, max_length=10_000,
                                                    description="None: every one that qualifies")


def _document(d: DocsysDocument | None) -> dict | None:
    if d is None:
        return None
    return {"document_id": d.document_id, "number": d.number, "symbol": d.symbol, "code": f"{d.number}/{d.symbol}",
            "promulgated_on": d.promulgated_on, "signer": d.signer, "signer_position": d.signer_position,
            "file_name": d.file_name, "file_bytes": len(d.file or b"")}


@router.get("")
async def list_requests(request: Request, reader: ReaderDep, unit: str | None = None,
                        limit: Limit = 10_000) -> list[dict]:
    """Every signing request (of the reader's units) with its state and, once issued, its number."""
    query = (select(DocsysRequest, DocsysDocument)
             .outerjoin(DocsysDocument, (DocsysDocument.dossier_code == DocsysRequest.dossier_code)
                        & DocsysDocument.withdrawn_at.is_(None))
             .where(readable(reader, DocsysRequest.dossier_code))
             .order_by(DocsysRequest.dossier_code).limit(limit))
    async with request.app.state.runtime.sessionmaker() as session:
        rows = (await session.execute(query)).tuples().all()
    return [{"dossier_code": r.dossier_code, "unit_code": r.record["unit_code"], "state": r.state,
             "requested_at": r.synced_at, "document": _document(d)}
            for r, d in rows if unit is None or r.record["unit_code"] == unit]


@router.get("/rejections")
async def rejections(request: Request, reader: ReaderDep, limit: Limit = 1000) -> list[dict]:
    """Envelopes refused on the way in, with the reason (each also went to the dead-letter topic);
    only their size, sha256 and first 4 KB were kept. Those naming no dossier of the reader's
    units are for province-wide readers only."""
    query = (select(DocsysRejection).where(readable(reader, DocsysRejection.dossier_code))
             .order_by(DocsysRejection.id).limit(limit))
    async with request.app.state.runtime.sessionmaker() as session:
        rows = (await session.execute(query)).scalars()
        return [{"id": r.id, "reason": r.reason, "dossier_code": r.dossier_code, "received_at": r.received_at,
                 "envelope_bytes": r.envelope_size, "envelope_sha256": r.envelope_sha256} for r in rows]


@router.get("/failures")
async def failures(request: Request, reader: ReaderDep, limit: Limit = 1000) -> list[dict]:
    """Signing requests the document system refused, or that failed failure_attempts times."""
    app = request.app.state
    async with app.runtime.sessionmaker() as session:
        rows = await backlog.failures(session, min_attempts=app.settings.failure_attempts, limit=limit, tables=DOCSYS)
    return [r for r in rows if may_read(reader, r["dossier_code"])]


@router.post("/requeue", dependencies=[OPERATOR])
async def requeue(request: Request, body: Codes) -> dict[str, int]:
    """Try failing signing requests again now."""
    app = request.app.state
    async with app.runtime.sessionmaker() as session, session.begin():
        count = await backlog.requeue(session, body.dossier_codes, min_attempts=app.settings.failure_attempts,
                                      tables=DOCSYS)
    return {"requeued": count}


@router.post("/resend", dependencies=[OPERATOR])
async def resend(request: Request, body: Codes) -> dict[str, int]:
    """Send again the requests the document system refused (02), or whose document was recalled (15)."""
    async with request.app.state.runtime.sessionmaker() as session, session.begin():
        query = select(DocsysRequest.dossier_code).where(DocsysRequest.state.in_(["refused", "recalled"]))
        if body.dossier_codes:
            query = query.where(DocsysRequest.dossier_code.in_(body.dossier_codes))
        codes = list((await session.execute(query)).scalars())
        count = await backlog.requeue_from_state(session, codes, tables=DOCSYS)
    return {"resent": count}


def _receiver(app) -> dict:
    """Who receives a pushed envelope, and with which trust store (the connector's, when it runs)."""
    if app.docsys is not None:
        return {"system": app.docsys.system, "verifier": app.docsys.verifier}
    return {"system": receiving_system(app.settings.docsys_organ_id, app.settings.docsys_organ_name), "verifier": None}


@router.post("/inbox", status_code=200, responses={
    401: {"description": "No valid document-system credential (X-API-Key); nothing is read"},
    403: {"description": "The envelope's sender is an organ the credential may not push for; nothing changes"},
    413: {"description": "The body is larger than SYNC_MAX_BODY_BYTES"},
    422: {"description": "Rejected (recorded with its reason, its sha256, size and first 4 KB)"}})
async def push(request: Request, system: PusherDep) -> dict:
    """An envelope pushed by an authenticated document system (then the same path as the polled
    ones); 422 when rejected."""
    app = request.app.state
    raw = await request.body()
    check_organ(raw, system)
    try:
        async with app.runtime.sessionmaker() as session, session.begin():
            outcome = await receive(session, raw, topics=app.runtime.topics, **_receiver(app))
    except NotYet as exc:
        raise HTTPException(409, detail="the request this answers is still being sent; retry",
                            headers={"Retry-After": "1"}) from exc
    app.runtime.relay.wake()
    if outcome["outcome"] == "rejected":
        raise HTTPException(422, detail=answer_for(system, outcome))
    return outcome


@router.get("/{dossier_code}")
async def dossier(request: Request, reader: ReaderDep,
                  dossier_code: Annotated[str, Path(pattern=DOSSIER_CODE_PATTERN, max_length=64)]) -> dict:
    """One dossier's signing request, its document and the status messages, in order."""
    check_dossier(reader, dossier_code)
    async with request.app.state.runtime.sessionmaker() as session:
        req = await session.get(DocsysRequest, dossier_code)
        queued = await session.get(DOCSYS.backlog, dossier_code)
        if req is None and queued is None:
            raise HTTPException(404, detail=f"no signing request for {dossier_code}")
        docs = (await session.execute(select(DocsysDocument).where(DocsysDocument.dossier_code == dossier_code)
                                      .order_by(DocsysDocument.received_at))).scalars().all()
        doc = next((d for d in docs if d.withdrawn_at is None), None)
        statuses = (await session.execute(select(DocsysStatus).where(DocsysStatus.dossier_code == dossier_code)
                                          .order_by(DocsysStatus.at))).scalars()
        return {"dossier_code": dossier_code, "state": req.state if req else "queued",
                "queued": queued is not None, "document": _document(doc),
                "withdrawn": [{**(_document(d) or {}), "withdrawn_at": d.withdrawn_at} for d in docs if d.withdrawn_at],
                "statuses": [{"status": s.status, "at": s.at, "description": s.description} for s in statuses]}


@router.post("/reconcile", dependencies=[OPERATOR])
async def reconcile_documents(request: Request, body: Period) -> dict[str, int]:
    """Ask the document system about every signing request of the period; send again those it
    does not hold (a lost request)."""
    app = request.app.state
    if app.docsys is None:
        raise HTTPException(409, detail="the document-system connector is off (SYNC_DOCSYS_URL unset)")
    return await reconcile(app.runtime.sessionmaker, app.docsys, start=body.start, end=body.end,
                           concurrency=app.settings.reconcile_concurrency, tables=DOCSYS,
                           differs=lambda found, held: found is None)
