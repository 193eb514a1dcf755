"""The sync service's operations API: failing dossiers, re-queueing, reconciliation."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.sync import backlog
from services.sync.reconcile import reconcile, summary
from shared.auth import OPERATOR, ReaderDep, may_read
from shared.events import DossierCode

router = APIRouter(prefix="/v1/sync", tags=["sync"])


class Requeue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dossier_codes: list[DossierCode] | None = Field(default=None, max_length=10_000,
                                                    description="None: every failing dossier")


class Period(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    start: date = Field(alias="from")
    end: date = Field(alias="to")


@router.get("/failures")
async def list_failures(request: Request, reader: ReaderDep,
                        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[dict]:
    """Dossiers the portal refused, or whose sync failed at least failure_attempts times (of the
    reader's units)."""
    app = request.app.state
    async with app.runtime.sessionmaker() as session:
        rows = await backlog.failures(session, min_attempts=app.settings.failure_attempts, limit=limit)
    return [r for r in rows if may_read(reader, r["dossier_code"])]


@router.post("/requeue", dependencies=[OPERATOR])
async def requeue(request: Request, body: Requeue) -> dict[str, int]:
    """Try failing dossiers again now, with a fresh attempt count."""
    app = request.app.state
    async with app.runtime.sessionmaker() as session, session.begin():
        count = await backlog.requeue(session, body.dossier_codes, min_attempts=app.settings.failure_attempts)
    return {"requeued": count}


@router.post("/reconcile", dependencies=[OPERATOR])
async def reconcile_period(request: Request, body: Period) -> dict[str, Any]:
    """Compare the period's dossiers with the portal (TraCuuHoSo) and re-queue the differences;
    the summary counts the differing fields (names only) and lists the first differing dossiers."""
    app = request.app.state
    details: dict[str, list[str]] = {}
    result = await reconcile(app.runtime.sessionmaker, app.portal, start=body.start, end=body.end,
                             concurrency=app.settings.reconcile_concurrency, details=details)
    return result | summary(details)
