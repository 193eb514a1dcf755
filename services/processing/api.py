"""Processing's HTTP surface: a dossier's state and history, and the procedure catalog."""

from __future__ import annotations

from typing import Annotated, Any

from datetime import date
from typing import Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from services.processing.catalog import Procedure
from services.processing.catalog_import import CatalogFileError, import_catalog
from services.processing.pending import learn_known, pending_summary
from services.processing.controlsheet import control_sheet
from services.processing.stored import stored_event
from services.processing.working import in_order
from services.processing.models import AnomalyRow, Dossier, DossierEvent, ProcedureRow
from shared.auth import OPERATOR, READER, ReaderDep, check_dossier, readable
from shared.events import DOSSIER_CODE_PATTERN

router = APIRouter(prefix="/v1")


# Per-dossier data needs a reader token (shared/auth.py).
# A reader token reads the dossiers of its units (and the units below them) only.
READER_ONLY: dict[str, Any] = {"dependencies": [READER], "responses": {401: {"description": "No valid reader token"},
                                                                       403: {"description": "Another unit's dossier"}}}
Code = Annotated[str, Path(pattern=DOSSIER_CODE_PATTERN, max_length=64, description="Mã hồ sơ")]


@router.get("/dossiers/{code}", tags=["dossiers"], **READER_ONLY)
async def get_dossier(request: Request, code: Code, reader: ReaderDep) -> dict:
    """A dossier's canonical state and its events in the order they happened."""
    check_dossier(reader, code)
    async with request.app.state.runtime.sessionmaker() as session:
        dossier = await session.get(Dossier, code)
        rows = (await session.execute(select(DossierEvent).where(DossierEvent.dossier_code == code))).scalars().all()
        events = in_order(stored_event(r.id, r.type, r.time, r.data) for r in rows)
        stored = {r.id: r.data for r in rows}  # the events' data is answered as stored
    if dossier is None and not events:
        raise HTTPException(404, detail=f"no dossier {code}")
    return {
        "state": dossier.state if dossier else None,
        "control_sheet": control_sheet(events),
        "events": [{"id": e.id, "type": e.type, "time": e.time, "data": stored[e.id]} for e in events],
    }


@router.get("/anomalies", tags=["dossiers"], **READER_ONLY)
async def list_anomalies(
    request: Request,
    reader: ReaderDep,
    dossier: Annotated[str | None, Query(pattern=DOSSIER_CODE_PATTERN, description="Only this dossier code")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict]:
    """Events that were not applied because the dossier's status did not allow them, newest
    first; of the reader's units only."""
    query = (select(AnomalyRow).where(readable(reader, AnomalyRow.dossier_code))
             .order_by(AnomalyRow.detected_at.desc(), AnomalyRow.event_id).limit(limit))
    if dossier:
        query = query.where(AnomalyRow.dossier_code == dossier)
    async with request.app.state.runtime.sessionmaker() as session:
        rows = (await session.execute(query)).scalars().all()
    return [{"event_id": r.event_id, "dossier_code": r.dossier_code, "type": r.type, "time": r.time,
             "reason": r.reason, "detected_at": r.detected_at} for r in rows]


@router.get("/procedures", tags=["catalog"])
async def list_procedures(request: Request) -> list[Procedure]:
    """The procedure catalog."""
    async with request.app.state.runtime.sessionmaker() as session:
        rows = await session.execute(select(ProcedureRow.definition).order_by(ProcedureRow.code))
        return [Procedure.model_validate(d) for d in rows.scalars()]


@router.put("/procedures/{code}", tags=["catalog"], dependencies=[OPERATOR])
async def put_procedure(request: Request, code: str, procedure: Procedure) -> Procedure:
    """Create or replace one procedure; new dossiers use it from the next event on."""
    if procedure.code != code:
        raise HTTPException(422, detail=f"body code {procedure.code} differs from path code {code}")
    async with request.app.state.runtime.sessionmaker() as session, session.begin():
        await session.execute(upsert_procedures([procedure], replace=True))
        await learn_known(session, request.app.state.folding)  # dossiers held for this code are judged
    request.app.state.runtime.relay.wake()  # their new states go out now, not at the next poll
    return procedure


MAX_CATALOG_FILE = 20 * 1024 * 1024


@router.post("/procedures/import", tags=["catalog"], dependencies=[OPERATOR],
             responses={422: {"description": "Invalid rows: nothing was changed; each row and field is named"}})
async def import_procedures(
    request: Request,
    format: Annotated[Literal["csv", "xlsx"], Query(description="The body's format")],
    dry_run: Annotated[bool, Query(description="Only show what would change")] = False,
    effective_from: Annotated[date | None, Query(description="When changed time limits apply (default today)")]
    = None,
) -> dict:
    """Import the province's procedure list, the file as the request body (CSV or xlsx in the national
    TTHC database's export shape): added, changed (old and new values), unchanged, not in the file
    (kept), dossiers released from the pending catalog."""
    content = b""
    async for chunk in request.stream():
        content += chunk
        if len(content) > MAX_CATALOG_FILE:
            raise HTTPException(413, detail="body: the file is larger than 20 MB")
    try:
        async with request.app.state.runtime.sessionmaker() as session, session.begin():
            report = await import_catalog(session, content, f"import.{format}", dry_run=dry_run,
                                          effective_from=effective_from, folding=request.app.state.folding)
    except CatalogFileError as exc:
        raise HTTPException(422, detail=exc.errors) from exc
    request.app.state.runtime.relay.wake()
    return report


@router.get("/pending-catalog", tags=["catalog"], **READER_ONLY)
async def list_pending_catalog(request: Request) -> list[dict]:
    """Dossiers held because their procedure or unit is not in the catalog yet, by unknown code:
    received and counted, judged as soon as the catalog learns the code."""
    async with request.app.state.runtime.sessionmaker() as session:
        return await pending_summary(session)


def upsert_procedures(procedures: list[Procedure], *, replace: bool):
    stmt = insert(ProcedureRow).values([{"code": p.code, "definition": p.model_dump()} for p in procedures])
    if replace:
        # updated_at moves: processing's CatalogCache reloads on it (onupdate does not apply here).
        return stmt.on_conflict_do_update(index_elements=[ProcedureRow.code],
                                          set_={"definition": stmt.excluded.definition, "updated_at": func.now()})
    return stmt.on_conflict_do_nothing()
