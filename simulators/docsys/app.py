"""A simulator of the province's document-management system (Hệ thống quản lý văn bản và điều hành).

edXML over HTTP (docs/documents.md), in memory; organs are named by their national identifier:
- POST /edxml/documents            a signing request (the draft); 202 when taken, 200 for a re-send
- GET  /edxml/messages?organ=000.00.00.H44   the messages waiting for that system (statuses, documents)
- GET  /edxml/messages/{id}        one message, as edXML
- POST /edxml/messages/{id}/ack    the recipient has recorded it; it is not offered again
- GET  /edxml/requests?organ=…&code=Number/Notation   what became of a request (reconciliation)
With a trust store configured, a request must carry a valid XML-DSig signature from a trusted
certificate; with a key, everything it sends is signed.
The requesting system polls: messages stay until acknowledged, so nothing is lost while the
product is down. Faults (5xx, hangs, outages, a rate limit) are the simulators' shared ones
(simulators/faults.py); refusal and return ratios, and the fate of named requests, are set under /admin.
"""

from __future__ import annotations

import random

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.sync.documents.edxml import Document, EdxmlError, parse
from services.sync.documents.organs import unit_code
from services.sync.documents.signing import Verifier, load_signing_key
from shared.units import load_units
from simulators.docsys.desk import Desk
from simulators.faults import Faults, FaultSettings

XML = "application/xml"


class DocsysSettings(BaseSettings, FaultSettings):
    model_config = SettingsConfigDict(env_prefix="DOCSYS_SIM_", extra="ignore")

    rate_per_second: float = 500.0  # the connector polls: list, fetch and acknowledge per message
    burst: int = 500
    delay_min_seconds: float = 0.2  # between the steps of a request (received → assigned → issued)
    delay_max_seconds: float = 1.5
    seed: int | None = None
    signing_key: str = ""  # PEM key (with signing_cert) or PKCS#12 file: signs what it sends
    signing_cert: str = ""
    trust_store: str = ""  # PEM certificates of trusted authorities: requests must be signed by one


class Fates(BaseModel):
    returned_ratio: float = Field(
        default=0.0, ge=0, le=1, description="share of requests sent back for changes (answered 02)"
    )
    refused_ratio: float = Field(default=0.0, ge=0, le=1, description="share of requests refused")
    planned: dict[str, str] = Field(
        default_factory=dict, description="request number (the dossier code) -> issued|returned|refused"
    )


class Recall(BaseModel):
    document_id: str = Field(description="DocumentId of an issued document")
    agreed: bool = Field(default=True, description="15 recall agreed, or 16 refused")


def create_app(settings: DocsysSettings | None = None) -> FastAPI:
    settings = settings or DocsysSettings()
    units = load_units()
    key = load_signing_key(settings.signing_key, settings.signing_cert or None) if settings.signing_key else None
    verifier = Verifier(settings.trust_store) if settings.trust_store else None
    desk = Desk(
        units, delay=(settings.delay_min_seconds, settings.delay_max_seconds), rng=random.Random(settings.seed), key=key
    )
    faults = Faults(FaultSettings(**settings.model_dump(include=set(FaultSettings.model_fields))))
    app = FastAPI(title="Hệ thống quản lý văn bản — simulator", version="1.0.0")
    app.state.desk, app.state.faults = desk, faults
    calls = {"requests": 0, "refused": 0}

    async def judged() -> None:
        await faults.answer("document system")

    @app.post("/edxml/documents", dependencies=[Depends(judged)])
    async def send(request: Request, response: Response) -> dict:
        """Take a signing request (edXML document without a number); 422 says why it is refused."""
        calls["requests"] += 1
        try:
            doc = parse(await request.body(), verifier)
        except EdxmlError as exc:
            calls["refused"] += 1
            raise HTTPException(422, detail=str(exc)) from exc
        if not isinstance(doc, Document):
            calls["refused"] += 1
            raise HTTPException(422, detail="a signing request is a document, not a status message")
        if verifier is not None and doc.signed_by is None:
            calls["refused"] += 1
            raise HTTPException(422, detail="unsigned: a signing request must carry an XML-DSig signature")
        unit = unit_code(doc.receivers[0].id)
        if unit is None or len(doc.receivers) != 1:
            calls["refused"] += 1
            raise HTTPException(422, detail=f"unknown receiving unit {', '.join(r.id for r in doc.receivers)}")
        new, held = desk.accept(doc, unit)
        response.status_code = 202 if new else 200
        return {"document_id": doc.document_id, "state": held.state, "round": held.rounds}

    @app.get("/edxml/messages", dependencies=[Depends(judged)])
    async def messages(organ: str, limit: int = 100) -> list[dict]:
        """Messages waiting for `organ`, oldest first."""
        return [{"id": m.id, "kind": m.kind} for m in desk.pending(organ, limit)]

    @app.get("/edxml/messages/{message_id}", dependencies=[Depends(judged)])
    async def message(message_id: int) -> Response:
        if message_id not in desk.messages:
            raise HTTPException(404, detail=f"no message {message_id}")
        return Response(desk.messages[message_id].xml, media_type=XML)

    @app.post("/edxml/messages/{message_id}/ack", status_code=204, dependencies=[Depends(judged)])
    async def ack(message_id: int) -> None:
        if message_id not in desk.messages:
            raise HTTPException(404, detail=f"no message {message_id}")
        desk.messages[message_id].acked = True

    @app.get("/edxml/requests", dependencies=[Depends(judged)])
    async def look_up(organ: str, code: str) -> dict:
        """A request by its sender and its Number/Notation."""
        held = desk.requests.get((organ, code))
        if held is None:
            raise HTTPException(404, detail=f"no request {code} from {organ}")
        issued = held.issued.document_id if held.issued else None
        return {
            "document_id": held.request.document_id,
            "state": held.state,
            "code": held.code,
            "issued_document_id": issued,
            "round": held.rounds,
        }

    @app.post("/admin/faults", tags=["admin"])
    async def set_faults(body: FaultSettings) -> dict:
        """Change the failure ratios, the rate limit, or start an outage of down_for_seconds."""
        faults.configure(body)
        return body.model_dump()

    @app.post("/admin/fates", tags=["admin"])
    async def set_fates(body: Fates) -> dict:
        """Refuse or return a share of the requests, or decide the next round of named ones."""
        desk.ratios = {"returned": body.returned_ratio, "refused": body.refused_ratio}
        desk.planned.update(body.planned)
        return body.model_dump()

    @app.post("/admin/recall", tags=["admin"])
    async def recall(body: Recall) -> dict:
        """Recall an issued document: status 13, then 15 (agreed) or 16 (refused)."""
        held = desk.recall(body.document_id, body.agreed)
        if held is None:
            raise HTTPException(404, detail=f"no standing issued document {body.document_id}")
        return {"document_id": body.document_id, "state": held.state}

    @app.post("/admin/inject", tags=["admin"])
    async def inject(request: Request, organ: str) -> dict:
        """Queue a raw envelope (even a malformed one) for `organ`, as if another system sent it."""
        return {"id": desk.inject(organ, await request.body())}

    @app.get("/admin/requests", tags=["admin"])
    async def requests() -> dict:
        """Every request: its state, its number once issued, and how many rounds it took."""
        return {
            r.request.number: {
                "state": r.state,
                "code": r.code,
                "round": r.rounds,
                "unit": r.unit,
                "document_id": r.issued.document_id if r.issued else None,
            }
            for r in desk.requests.values()
        }

    @app.get("/health")
    async def health() -> dict:
        waiting = sum(1 for m in desk.messages.values() if not m.acked)
        return {
            "status": "ok",
            "requests": len(desk.requests),
            "messages_waiting": waiting,
            **calls,
            "verdicts": faults.counts,
        }

    return app
