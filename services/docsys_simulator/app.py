"""A simulator of the province's document-management system (Hệ thống quản lý văn bản và điều hành).

edXML over HTTP (docs/domain.md §10), in memory:
- POST /edxml/documents            a signing request (the draft); 202 when taken, 200 for a re-send
- GET  /edxml/messages?organ=H44   the messages waiting for that system (statuses, issued documents)
- GET  /edxml/messages/{id}        one message, as edXML
- POST /edxml/messages/{id}/ack    the recipient has recorded it; it is not offered again
- GET  /edxml/requests/{organ}/{document_id}   what became of a request (reconciliation)
The requesting system polls: messages stay until acknowledged, so nothing is lost while the
product is down. Faults (5xx, hangs, outages, a rate limit) come from the portal simulator's
Faults; refusal and return ratios, and the fate of named requests, are set under /admin.
"""

from __future__ import annotations

import random

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from services.docsys_simulator.desk import Desk
from services.docsys_simulator.edxml import Document, EdxmlError
from services.docsys_simulator.edxml_read import parse
from services.portal_simulator.faults import Faults, FaultSettings, SimulatorSettings
from shared.units import load_units

XML = "application/xml"


class DocsysSettings(SimulatorSettings):
    model_config = SettingsConfigDict(env_prefix="DOCSYS_SIM_", extra="ignore")

    rate_per_second: float = 500.0  # the connector polls: list, fetch and acknowledge per message
    burst: int = 500
    delay_min_seconds: float = 0.2  # between the steps of a request (received → assigned → issued)
    delay_max_seconds: float = 1.5
    seed: int | None = None


class Fates(BaseModel):
    returned_ratio: float = Field(default=0.0, ge=0, le=1, description="share of requests returned for changes")
    refused_ratio: float = Field(default=0.0, ge=0, le=1, description="share of requests refused")
    planned: dict[str, str] = Field(default_factory=dict, description="DocumentId -> issued|returned|refused")


def create_app(settings: DocsysSettings | None = None) -> FastAPI:
    settings = settings or DocsysSettings()
    units = load_units()
    desk = Desk(units, delay=(settings.delay_min_seconds, settings.delay_max_seconds),
                rng=random.Random(settings.seed))
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
            doc = parse(await request.body())
        except EdxmlError as exc:
            calls["refused"] += 1
            raise HTTPException(422, detail=str(exc)) from exc
        if not isinstance(doc, Document) or doc.code_number is not None:
            calls["refused"] += 1
            raise HTTPException(422, detail="a signing request is a document without a number (Code)")
        if doc.receiver.id not in units:
            calls["refused"] += 1
            raise HTTPException(422, detail=f"unknown receiving unit {doc.receiver.id}")
        new, held = desk.accept(doc)
        response.status_code = 202 if new else 200
        return {"document_id": doc.document_id, "state": "received" if new else held.state, "round": held.rounds}

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

    @app.get("/edxml/requests/{organ}/{document_id}", dependencies=[Depends(judged)])
    async def look_up(organ: str, document_id: str) -> dict:
        held = desk.requests.get((organ, document_id))
        if held is None:
            raise HTTPException(404, detail=f"no request {document_id} from {organ}")
        return {"document_id": document_id, "state": held.state, "code": held.code, "round": held.rounds}

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

    @app.post("/admin/inject", tags=["admin"])
    async def inject(request: Request, organ: str) -> dict:
        """Queue a raw envelope (even a malformed one) for `organ`, as if another system sent it."""
        return {"id": desk.inject(organ, await request.body())}

    @app.get("/admin/requests", tags=["admin"])
    async def requests() -> dict:
        """Every request: its state, its number once issued, and how many rounds it took."""
        return {doc_id: {"state": r.state, "code": r.code, "round": r.rounds, "unit": r.request.receiver.id}
                for (_, doc_id), r in desk.requests.items()}

    @app.get("/health")
    async def health() -> dict:
        waiting = sum(1 for m in desk.messages.values() if not m.acked)
        return {"status": "ok", "requests": len(desk.requests), "messages_waiting": waiting, **calls,
                "verdicts": faults.counts}

    return app
