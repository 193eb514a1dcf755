"""A simulator of the National Public Service Portal's dossier-sync interface (in memory).

Session login, then DongBoHoSoMC (sync dossiers) and TraCuuHoSo (look up), as public
implementations use them. It validates every record, refuses impossible status changes
(rules.py), limits the call rate and can be told to fail (faults.py). It keeps what it
accepted and each dossier's status history, so tests can read them back under /admin.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from services.portal_simulator.faults import Faults, FaultSettings, SimulatorSettings
from services.portal_simulator.records import PortalDossier, SyncRequest
from services.portal_simulator.rules import impossible_change


class Login(BaseModel):
    username: str
    password: str


class PortalState:
    def __init__(self, settings: SimulatorSettings):
        self.settings = settings
        self.faults = Faults(FaultSettings(**settings.model_dump(include=set(FaultSettings.model_fields))))
        self.sessions: dict[str, float] = {}
        self.dossiers: dict[str, PortalDossier] = {}
        self.history: dict[str, list[int]] = {}  # statuses accepted, in order, per dossier
        self.calls = 0
        self.rejected = 0
        self.regressions = 0
        self.sending: dict[str, int] = {}  # dossier code -> sync calls holding it now
        self.overlaps: list[str] = []  # dossiers that arrived while another call held them
        self.open_calls = 0  # sync calls not answered yet (a late one stores when its hang ends)

    def store(self, raw: dict) -> tuple[int, str]:
        """Validate and keep one record: (error code, message); 0 is success."""
        try:
            record = PortalDossier.model_validate(raw)
        except ValidationError as exc:
            self.rejected += 1
            fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(record)'}: {e['msg']}" for e in exc.errors())
            return 2, fields[:500]
        held = self.dossiers.get(record.MaHoSo)
        if held is not None and (why := impossible_change(held.TrangThaiHoSo, record.TrangThaiHoSo)):
            self.rejected += 1
            self.regressions += 1
            return 3, why
        self.dossiers[record.MaHoSo] = record
        statuses = self.history.setdefault(record.MaHoSo, [])
        if not statuses or statuses[-1] != record.TrangThaiHoSo:
            statuses.append(record.TrangThaiHoSo)
        return 0, "OK"


def create_app(settings: SimulatorSettings | None = None) -> FastAPI:
    state = PortalState(settings or SimulatorSettings())
    app = FastAPI(title="Cổng Dịch vụ công quốc gia — simulator", version="1.1.0")
    app.state.portal = state

    def session(authorization: Annotated[str | None, Header()] = None) -> None:
        token = (authorization or "").removeprefix("Bearer ")
        if state.sessions.get(token, 0) < time.monotonic():
            raise HTTPException(401, detail="session missing or expired; log in again")

    async def faults() -> None:
        await state.faults.answer("portal")

    @app.post("/api/session", dependencies=[Depends(faults)])
    async def login(body: Login) -> dict:
        """Open a session (token valid for session_seconds)."""
        if (body.username, body.password) != (state.settings.username, state.settings.password):
            raise HTTPException(401, detail="wrong username or password")
        token = secrets.token_urlsafe(24)
        state.sessions[token] = time.monotonic() + state.settings.session_seconds
        return {"token": token, "expires_in": state.settings.session_seconds}

    @app.post("/api/DongBoHoSoMC", dependencies=[Depends(faults), Depends(session)])
    async def sync_dossiers(body: SyncRequest) -> JSONResponse:
        """Judge each record on its own; error_code 0 when all were stored."""
        state.calls += 1
        codes = [str(r.get("MaHoSo")) for r in body.data]
        state.overlaps += [c for c in codes if state.sending.get(c)]  # sent by two callers at once
        for c in codes:
            state.sending[c] = state.sending.get(c, 0) + 1

        def release() -> None:  # a call counts as sending until it stored, or its caller gave up
            if not released.is_set():
                released.set()
                for c in codes:
                    state.sending[c] -= 1

        def store() -> list[dict]:
            release()
            return [{"MaHoSo": str(r.get("MaHoSo")), "error_code": c, "message": m}
                    for r in body.data for c, m in [state.store(r)]]

        released = asyncio.Event()
        state.open_calls += 1
        try:
            results = await state.faults.around_store(store, abandoned=release)
        finally:
            state.open_calls -= 1
            release()
        failed = sum(1 for r in results if r["error_code"])
        return JSONResponse({"error_code": 1 if failed else 0, "message": f"{failed} rejected" if failed else "OK",
                             "count": len(results) - failed, "results": results})

    @app.get("/api/TraCuuHoSo", dependencies=[Depends(faults), Depends(session)])
    async def look_up(MaHoSo: str) -> PortalDossier:
        """The record the portal holds for a dossier."""
        if MaHoSo not in state.dossiers:
            raise HTTPException(404, detail=f"no dossier {MaHoSo}")
        return state.dossiers[MaHoSo]

    @app.post("/admin/faults", tags=["admin"])
    async def set_faults(body: FaultSettings) -> dict:
        """Change the failure ratios, the rate limit, or start an outage of down_for_seconds."""
        state.faults.configure(body)
        return body.model_dump()

    @app.get("/admin/dossiers", tags=["admin"])
    async def statuses() -> dict:
        """Each dossier's current status and the statuses it went through, in order."""
        return {code: {"status": d.TrangThaiHoSo, "history": state.history[code]} for code, d in state.dossiers.items()}

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "dossiers": len(state.dossiers), "calls": state.calls, "rejected": state.rejected,
                "regressions": state.regressions, "overlaps": len(state.overlaps), "open_calls": state.open_calls,
                "verdicts": state.faults.counts}

    return app
