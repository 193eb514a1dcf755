"""HTTP entry points: translate requests to handler calls and results to status codes."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Response
from prometheus_client import Counter
from pydantic import BaseModel

from services.intake.apikeys import Caller
from services.intake.auth import CallerDep
from services.intake.config import SettingsDep
from services.intake.deps import KeyringDep
from services.intake.handlers import ItemResult, accept_events
from shared.deps import RuntimeDep
from shared.units import load_units

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid X-API-Key (missing, unknown, revoked or expired)"},
    413: {"description": "The body is larger than intake accepts"},
    429: {
        "description": "Over the key's rate limit, or too many failed authentications from the "
        "client's address; see Retry-After"
    },
}
router = APIRouter(prefix="/v1", tags=["events"], responses=AUTH_RESPONSES)
EVENTS = Counter("intake_events_total", "Events posted to intake, by outcome", ["outcome"])

EVENT_EXAMPLE = {
    "id": "0b6f1f9e-2b7c-4a3e-9a53-1d0c5f6e8a01",
    "type": "dossier.received",
    "version": 1,
    "source": "motcua-h44-100",
    "subject": "H44.100-260815-0042",
    "time": "2026-08-15T08:30:00+07:00",
    "data": {
        "unit_code": "H44.100",
        "procedure_code": "1.001193",
        "channel": 2,
        "applicant": {"id_number": "001012345645", "name": "Nguyễn Văn A"},
    },
}
APPLICANT_NOTE = (
    " dossier.received/submitted may carry `data.applicant` = {id_number: CCCD (12 digits), name}:"
    " intake keeps and publishes only a keyed hash and a masked form of the number, never the name."
)


class FieldError(BaseModel):
    field: str
    message: str


class ItemOut(BaseModel):
    index: int
    id: str | None
    status: str
    errors: list[FieldError] = []


class BatchOut(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[ItemOut]


async def _accept(
    runtime: RuntimeDep, settings: SettingsDep, keyring: KeyringDep, caller: Caller, items: list[Any]
) -> list[ItemResult]:
    async with runtime.sessionmaker() as session, session.begin():
        results = await accept_events(
            session,
            items,
            caller=caller,
            topic=runtime.topics.dossier_events,
            units=load_units(),
            max_skew=timedelta(seconds=settings.max_clock_skew_seconds),
            applicant_key=settings.applicant_id_key.get_secret_value().encode(),
            keyring=keyring,
        )
    # Answer only after commit; then let the relay publish without waiting for its poll.
    runtime.relay.wake()
    for r in results:
        EVENTS.labels(r.status).inc()
    return results


@router.post(
    "/events",
    status_code=201,
    response_model=ItemOut,
    responses={
        200: {"model": ItemOut, "description": "Already accepted (same id, same content)"},
        403: {"description": "The key is not bound to the dossier's unit"},
        409: {"description": "Same id, different content"},
        422: {"description": "Invalid event; each failing field is named"},
    },
    description="Accept one dossier lifecycle event (idempotent on its id)." + APPLICANT_NOTE,
)
async def post_event(
    runtime: RuntimeDep,
    settings: SettingsDep,
    keyring: KeyringDep,
    response: Response,
    caller: CallerDep,
    event: Annotated[dict[str, Any], Body(examples=[EVENT_EXAMPLE])],
) -> ItemOut:
    """Accept one dossier lifecycle event (idempotent on its id)."""
    (result,) = await _accept(runtime, settings, keyring, caller, [event])
    if result.status == "rejected":
        raise HTTPException(422, detail=result.errors)
    if result.status == "forbidden":
        raise HTTPException(403, detail=result.errors)
    if result.status == "conflict":
        raise HTTPException(409, detail=f"event {result.id} was accepted earlier with other content")
    response.status_code = 201 if result.status == "accepted" else 200
    return ItemOut.model_validate(result, from_attributes=True)


@router.post(
    "/events/batch",
    response_model=BatchOut,
    responses={
        207: {"model": BatchOut, "description": "Some items were rejected (invalid, conflicting or forbidden)"},
        403: {"description": "Every item names a unit the key is not bound to"},
        413: {"description": "More events than a batch may hold, or too large a body"},
        422: {"description": "Every item was rejected, or the batch is empty"},
    },
    description="Accept a batch of events; each item is judged on its own and reported by index."
    " An item for a unit the key is not bound to is `forbidden`, the others are still judged." + APPLICANT_NOTE,
)
async def post_batch(
    runtime: RuntimeDep,
    settings: SettingsDep,
    keyring: KeyringDep,
    response: Response,
    caller: CallerDep,
    events: Annotated[list[Any], Body(examples=[[EVENT_EXAMPLE]])],
) -> BatchOut:
    """Accept a batch of events; each item is judged on its own and reported by index."""
    limit = settings.max_batch
    if len(events) > limit:
        raise HTTPException(413, detail=f"a batch holds at most {limit} events, got {len(events)}")
    if not events:
        raise HTTPException(422, detail="a batch holds at least one event")
    results = await _accept(runtime, settings, keyring, caller, events)
    failed = sum(r.status in ("rejected", "conflict", "forbidden") for r in results)
    all_forbidden = all(r.status == "forbidden" for r in results)
    response.status_code = 200 if failed == 0 else 207 if failed < len(results) else 403 if all_forbidden else 422
    return BatchOut(
        accepted=sum(r.status == "accepted" for r in results),
        duplicates=sum(r.status == "duplicate" for r in results),
        rejected=failed,
        results=[ItemOut.model_validate(r, from_attributes=True) for r in results],
    )
