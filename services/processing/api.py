"""Processing's HTTP surface: a dossier's state and history, and the procedure catalog."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from services.processing.catalog import Procedure
from services.processing.catalog_import import CatalogFileError, import_catalog
from services.processing.controlsheet import control_sheet
from services.processing.deps import FoldingDep
from services.processing.models import AnomalyRow, Dossier, DossierEvent, ProcedureRow
from services.processing.pending import learn_known, pending_summary
from services.processing.stored import stored_event
from services.processing.working import in_order
from shared.auth import OPERATOR, READER, ReaderDep, check_dossier, readable
from shared.deps import RuntimeDep, SessionDep, Timestamp
from shared.dossier_view import DossierView
from shared.events import DOSSIER_CODE_PATTERN

router = APIRouter(prefix="/v1")


# Per-dossier data needs a reader token (shared/auth.py).
# A reader token reads the dossiers of its units (and the units below them) only.
READER_ONLY: dict[str, Any] = {
    "dependencies": [READER],
    "responses": {401: {"description": "No valid reader token"}, 403: {"description": "Another unit's dossier"}},
}
Code = Annotated[str, Path(pattern=DOSSIER_CODE_PATTERN, max_length=64, description="Mã hồ sơ")]


class Anomaly(BaseModel):
    """An event not applied because the dossier's status did not allow it."""

    event_id: str
    dossier_code: str
    type: str
    time: Timestamp
    reason: str
    detected_at: Timestamp


class ProcedureChange(BaseModel):
    code: str
    changes: dict[str, list[Any]] = Field(description="per changed field, [before, after]")


class CatalogImport(BaseModel):
    """What an import of the procedure list changed (or would change, on a dry run)."""

    added: list[str]
    changed: list[ProcedureChange]
    unchanged: int
    not_in_file: list[str] = Field(description="codes in the catalog the file does not list (kept)")
    effective_from: date = Field(description="when changed time limits apply")
    dry_run: bool
    released: dict[str, int] = Field(description="per code the catalog learned, the held dossiers now judged")


class PendingCode(BaseModel):
    """An unknown procedure or unit code and the dossiers held for it."""

    kind: str = Field(description="what is unknown: procedure or unit")
    code: str
    dossiers: int
    first_received_at: Timestamp | None
    held_since: Timestamp
    units: list[str]
    sample: list[str] = Field(description="the first dossier codes held (at most 20)")


@router.get("/dossiers/{code}", tags=["dossiers"], **READER_ONLY)
async def get_dossier(session: SessionDep, code: Code, reader: ReaderDep) -> DossierView:
    """A dossier's canonical state and its events in the order they happened."""
    check_dossier(reader, code)
    dossier = await session.get(Dossier, code)
    rows = (await session.execute(select(DossierEvent).where(DossierEvent.dossier_code == code))).scalars().all()
    events = in_order(stored_event(r.id, r.type, r.time, r.data) for r in rows)
    stored = {r.id: r.data for r in rows}  # the events' data is answered as stored
    if dossier is None and not events:
        raise HTTPException(404, detail=f"no dossier {code}")
    return DossierView.model_validate(
        {
            "state": dossier.state if dossier else None,
            "control_sheet": control_sheet(events),
            "events": [{"id": e.id, "type": e.type, "time": e.time, "data": stored[e.id]} for e in events],
        }
    )


@router.get("/anomalies", tags=["dossiers"], **READER_ONLY)
async def list_anomalies(
    session: SessionDep,
    reader: ReaderDep,
    dossier: Annotated[str | None, Query(pattern=DOSSIER_CODE_PATTERN, description="Only this dossier code")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Anomaly]:
    """Events that were not applied because the dossier's status did not allow them, newest
    first; of the reader's units only."""
    query = (
        select(AnomalyRow)
        .where(readable(reader, AnomalyRow.dossier_code))
        .order_by(AnomalyRow.detected_at.desc(), AnomalyRow.event_id)
        .limit(limit)
    )
    if dossier:
        query = query.where(AnomalyRow.dossier_code == dossier)
    rows = (await session.execute(query)).scalars().all()
    return [Anomaly.model_validate(r, from_attributes=True) for r in rows]


@router.get("/procedures", tags=["catalog"])
async def list_procedures(session: SessionDep) -> list[Procedure]:
    """The procedure catalog."""
    rows = await session.execute(select(ProcedureRow.definition).order_by(ProcedureRow.code))
    return [Procedure.model_validate(d) for d in rows.scalars()]


@router.put("/procedures/{code}", tags=["catalog"], dependencies=[OPERATOR])
async def put_procedure(
    runtime: RuntimeDep, session: SessionDep, folding: FoldingDep, code: str, procedure: Procedure
) -> Procedure:
    """Create or replace one procedure; new dossiers use it from the next event on."""
    if procedure.code != code:
        raise HTTPException(422, detail=f"body code {procedure.code} differs from path code {code}")
    async with session.begin():
        await session.execute(upsert_procedures([procedure], replace=True))
        await learn_known(session, folding)  # dossiers held for this code are judged
    runtime.relay.wake()  # their new states go out now, not at the next poll
    return procedure


MAX_CATALOG_FILE = 20 * 1024 * 1024


@router.post(
    "/procedures/import",
    tags=["catalog"],
    dependencies=[OPERATOR],
    responses={422: {"description": "Invalid rows: nothing was changed; each row and field is named"}},
)
async def import_procedures(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    folding: FoldingDep,
    format: Annotated[Literal["csv", "xlsx"], Query(description="The body's format")],
    dry_run: Annotated[bool, Query(description="Only show what would change")] = False,
    effective_from: Annotated[date | None, Query(description="When changed time limits apply (default today)")] = None,
) -> CatalogImport:
    """Import the province's procedure list, the file as the request body (CSV or xlsx in the national
    TTHC database's export shape): added, changed (old and new values), unchanged, not in the file
    (kept), dossiers released from the pending catalog."""
    content = b""
    async for chunk in request.stream():  # the file is the body: read here, up to a bound
        content += chunk
        if len(content) > MAX_CATALOG_FILE:
            raise HTTPException(413, detail="body: the file is larger than 20 MB")
    try:
        async with session.begin():
            report = await import_catalog(
                session, content, f"import.{format}", dry_run=dry_run, effective_from=effective_from, folding=folding
            )
    except CatalogFileError as exc:
        raise HTTPException(422, detail=exc.errors) from exc
    runtime.relay.wake()
    return CatalogImport.model_validate(report)


@router.get("/pending-catalog", tags=["catalog"], **READER_ONLY)
async def list_pending_catalog(session: SessionDep) -> list[PendingCode]:
    """Dossiers held because their procedure or unit is not in the catalog yet, by unknown code:
    received and counted, judged as soon as the catalog learns the code."""
    return [PendingCode.model_validate(p) for p in await pending_summary(session)]


def upsert_procedures(procedures: list[Procedure], *, replace: bool):
    stmt = insert(ProcedureRow).values([{"code": p.code, "definition": p.model_dump()} for p in procedures])
    if replace:
        # updated_at moves: processing's CatalogCache reloads on it (onupdate does not apply here).
        return stmt.on_conflict_do_update(
            index_elements=[ProcedureRow.code], set_={"definition": stmt.excluded.definition, "updated_at": func.now()}
        )
    return stmt.on_conflict_do_nothing()
