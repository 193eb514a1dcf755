"""A simulator of the National Public Service Portal's dossier-sync interface (in memory).

Session login, then DongBoHoSoMC (sync dossiers) and TraCuuHoSo (look up), as public
implementations use them. It keeps what it was sent, so tests can read it back.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel

from services.portal_simulator.records import PortalDossier, SyncRequest

SESSION_SECONDS = 600


class Login(BaseModel):
    username: str
    password: str


class PortalState:
    def __init__(self, username: str, password: str):
        self.credentials = (username, password)
        self.sessions: dict[str, float] = {}
        self.dossiers: dict[str, PortalDossier] = {}
        self.calls = 0


def create_app(username: str = "motcua-h44", password: str = "demo-only") -> FastAPI:
    state = PortalState(username, password)
    app = FastAPI(title="Cổng Dịch vụ công quốc gia — simulator", version="1.0.0")
    app.state.portal = state

    def session(authorization: Annotated[str | None, Header()] = None) -> None:
        token = (authorization or "").removeprefix("Bearer ")
        if state.sessions.get(token, 0) < time.monotonic():
            raise HTTPException(401, detail="session missing or expired; log in again")

    @app.post("/api/session")
    async def login(body: Login) -> dict:
        """Open a session (token valid for SESSION_SECONDS)."""
        if (body.username, body.password) != state.credentials:
            raise HTTPException(401, detail="wrong username or password")
        token = secrets.token_urlsafe(24)
        state.sessions[token] = time.monotonic() + SESSION_SECONDS
        return {"token": token, "expires_in": SESSION_SECONDS}

    @app.post("/api/DongBoHoSoMC", dependencies=[Depends(session)])
    async def sync_dossiers(body: SyncRequest) -> dict:
        """Store or update dossiers; the latest record per MaHoSo wins."""
        state.calls += 1
        for record in body.data:
            state.dossiers[record.MaHoSo] = record
        return {"error_code": 0, "message": "OK", "count": len(body.data)}

    @app.get("/api/TraCuuHoSo", dependencies=[Depends(session)])
    async def look_up(MaHoSo: str) -> PortalDossier:
        """The record the portal holds for a dossier."""
        if MaHoSo not in state.dossiers:
            raise HTTPException(404, detail=f"no dossier {MaHoSo}")
        return state.dossiers[MaHoSo]

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "dossiers": len(state.dossiers), "calls": state.calls}

    return app
