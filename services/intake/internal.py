"""The applicant's clear identity for the one service that needs it (sync, for the portal's
record), and the log of who read it for the operators (identity.py; docs/security.md)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field

from services.intake import identity
from services.intake.config import SettingsDep
from services.intake.deps import KeyringDep
from shared.auth import OPERATOR, bearer
from shared.deps import SessionDep, Timestamp
from shared.events import DOSSIER_CODE_PATTERN, DossierCode

router = APIRouter(tags=["applicant identity"])


class ReadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dossier_codes: list[DossierCode] = Field(min_length=1, max_length=1000)
    purpose: str = Field(pattern=r"^[a-z][a-z0-9-]{0,63}$", description="Written in the access log, e.g. portal-sync")


class ClearOut(BaseModel):
    id_number: str
    name: str


class ReadOut(BaseModel):
    applicants: dict[str, ClearOut]


class AccessOut(BaseModel):
    at: Timestamp
    who: str = Field(description="the service credential's name, or operator:<command>")
    dossier_code: str
    purpose: str


def service_name(settings: SettingsDep, keyring: KeyringDep, credentials: HTTPAuthorizationCredentials | None) -> str:
    """The name of the service credential presented (401 otherwise; 503 when none is configured)."""
    pairs = [p.split("=", 1) for p in settings.service_tokens_sha256.split(",") if "=" in p]
    if not pairs or keyring is None:
        raise HTTPException(503, detail="applicant identity service is not configured")
    presented = hashlib.sha256((credentials.credentials if credentials else "").encode()).hexdigest()
    matches = [name.strip() for name, digest in pairs if hmac.compare_digest(presented, digest.strip().lower())]
    if credentials is None or not matches:
        raise HTTPException(
            401, detail="a valid service credential is required", headers={"WWW-Authenticate": "Bearer"}
        )
    return matches[0]


async def _service(
    settings: SettingsDep,
    keyring: KeyringDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    return service_name(settings, keyring, credentials)


@router.post("/internal/v1/applicants/read", response_model=ReadOut, include_in_schema=False)
async def read_applicants(
    session: SessionDep, keyring: KeyringDep, body: ReadRequest, who: Annotated[str, Depends(_service)]
) -> ReadOut:
    """The clear identity of these dossiers (those that have one kept); every value read is logged."""
    assert keyring is not None  # _service answered 503 without one
    async with session.begin():
        found = await identity.read(session, keyring, body.dossier_codes, who=who, purpose=body.purpose)
    return ReadOut(applicants={c: ClearOut(id_number=v.id_number, name=v.name) for c, v in found.items()})


@router.get("/v1/applicants/access-log", dependencies=[OPERATOR])
async def read_access_log(
    session: SessionDep,
    # A code's pattern, checked here: PostgreSQL refuses some characters (NUL) outright, which
    # would surface as a server error instead of a 422 naming the parameter.
    dossier_code: Annotated[
        str | None, Query(pattern=DOSSIER_CODE_PATTERN, max_length=64, description="Mã hồ sơ")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[AccessOut]:
    """Who read an applicant's clear identity, when, for which dossier and for what (newest first)."""
    return [AccessOut(**row) for row in await identity.access_log(session, dossier_code, limit)]
