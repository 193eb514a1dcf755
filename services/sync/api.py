"""The sync service's operations API: failing dossiers, re-queueing, reconciliation."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from services.sync import backlog
from services.sync.config import SettingsDep
from services.sync.deps import PortalDep
from services.sync.reconcile import reconcile, summary
from shared.auth import OPERATOR, ReaderDep, may_read
from shared.deps import RuntimeDep, SessionDep, Timestamp
from shared.events import DossierCode

router = APIRouter(prefix="/v1/sync", tags=["sync"])


class Requeue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dossier_codes: list[DossierCode] | None = Field(
        default=None, max_length=10_000, description="None: every failing dossier"
    )


class Period(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    start: date = Field(alias="from")
    end: date = Field(alias="to")


class Failure(BaseModel):
    """A dossier (or signing request) that is failing: refused (parked) or failed `attempts` times."""

    dossier_code: str
    revision: int
    status: int
    attempts: int
    parked: bool = Field(description="refused by the target: waits for a fix and a re-queue")
    last_error: str | None
    next_attempt_at: Timestamp


class Requeued(BaseModel):
    requeued: int = Field(description="rows made due now")


class Reconciled(BaseModel):
    checked: int = Field(description="dossiers looked up")
    differences: int = Field(description="dossiers the target holds otherwise, or not at all")
    requeued: int
    unchecked: int = Field(description="look-ups that failed (try again)")


class PortalReconciled(Reconciled):
    fields_differing: dict[str, int] = Field(description="per field name, how many dossiers differ in it")
    dossiers_differing: list[str] = Field(description="the first differing dossiers")


@router.get("/failures")
async def list_failures(
    session: SessionDep, settings: SettingsDep, reader: ReaderDep, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000
) -> list[Failure]:
    """Dossiers the portal refused, or whose sync failed at least failure_attempts times (of the
    reader's units)."""
    rows = await backlog.failures(session, min_attempts=settings.failure_attempts, limit=limit)
    return [Failure(**r) for r in rows if may_read(reader, r["dossier_code"])]


@router.post("/requeue", dependencies=[OPERATOR])
async def requeue(session: SessionDep, settings: SettingsDep, body: Requeue) -> Requeued:
    """Try failing dossiers again now, with a fresh attempt count."""
    async with session.begin():
        count = await backlog.requeue(session, body.dossier_codes, min_attempts=settings.failure_attempts)
    return Requeued(requeued=count)


@router.post("/reconcile", dependencies=[OPERATOR])
async def reconcile_period(
    runtime: RuntimeDep, settings: SettingsDep, portal: PortalDep, body: Period
) -> PortalReconciled:
    """Compare the period's dossiers with the portal (TraCuuHoSo) and re-queue the differences;
    the summary counts the differing fields (names only) and lists the first differing dossiers."""
    details: dict[str, list[str]] = {}
    result = await reconcile(
        runtime.sessionmaker,
        portal,
        start=body.start,
        end=body.end,
        concurrency=settings.reconcile_concurrency,
        details=details,
    )
    return PortalReconciled.model_validate(result | summary(details))
