"""A simulator of the National Public Service Portal's integration interface (in memory).

It speaks the dialect sync speaks (services/sync/portal/record.py, docs/portal.md): a login
returning a session that expires, then every call to one URL with the `dstcode` header and
`{session, madonvi, service, ...}`; TraCuuHoSo, DongBoHoSoMC (isUpdating "False" creates,
"True" updates) and CapNhatTienDoHoSoMC. Every value is checked as a string in its format.
A call is judged as a whole, with one error_code (the simulator's codes, docs/portal.md):
 0 success; -1 session missing or expired; 2 a record or step is invalid (the message names
 the dossier and the field); 3 a create of dossiers all held, -3 of some held; 4 an update or
 a step of a dossier not held; 5 an impossible status change (rules.py).
Nothing of a refused call is stored. It limits the call rate and fails on command (faults.py).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from services.sync.portal.record import CALL_ITEMS, Call, HoSo, Login, TienDo
from shared.runtime import tune_garbage_collection
from simulators.faults import Faults, FaultSettings
from simulators.portal.rules import impossible_change
from simulators.portal.settings import SimulatorSettings

INTERNAL_UNIT_KEY = re.compile(r"^H\d{2}(\.\d{1,3})*$")


# The calls with their records or steps typed, read in one pass: the common case, a valid call.
# A call this refuses is read again as a `Call` with its data judged item by item, which names
# the faulty dossier and field (error_code 2) or the call's own fault (1). Parsing the data as
# dicts first and validating each again cost twice as much (43 -> 23 us a record).
class _Lookup(Call):
    service: Literal["TraCuuHoSo"]


class _Records(Call):
    service: Literal["DongBoHoSoMC"]
    data: list[HoSo] | None = Field(default=None, max_length=CALL_ITEMS)  # type: ignore[assignment]


class _Steps(Call):
    service: Literal["CapNhatTienDoHoSoMC"]
    data: list[TienDo] | None = Field(default=None, max_length=CALL_ITEMS)  # type: ignore[assignment]


TYPED_CALL: TypeAdapter[_Lookup | _Records | _Steps] = TypeAdapter(
    Annotated[_Lookup | _Records | _Steps, Field(discriminator="service")]
)


def _errors(exc: ValidationError, limit: int = 5) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(record)'}: {e['msg']}" for e in exc.errors()[:limit])


def _code(item: object) -> str | None:
    """The MaHoSo an item names, if any (to name it in an answer)."""
    if isinstance(item, BaseModel):
        return str(getattr(item, "MaHoSo", None))
    return item.get("MaHoSo") if isinstance(item, dict) else None


def answer(code: str, message: str = "", status: int = 200, **extra: Any) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message, **extra}, status_code=status)


class PortalState:
    def __init__(self, settings: SimulatorSettings):
        self.settings = settings
        self.code_pattern = re.compile(settings.dossier_code_pattern)
        self.faults = Faults(FaultSettings(**settings.model_dump(include=set(FaultSettings.model_fields))))
        self.sessions: dict[str, float] = {}
        self.dossiers: dict[str, HoSo] = {}
        self.history: dict[str, list[int]] = {}  # statuses accepted, in order, per dossier
        self.progress: dict[str, dict[str, dict]] = {}  # per dossier, steps by their content
        self.calls = 0
        self.rejected = 0  # calls refused for invalid data or an impossible change
        self.regressions = 0
        self.exists = 0  # creates of a held dossier, updates of an unknown one
        self.sending: dict[str, int] = {}  # dossier code -> sync calls holding it now
        self.overlaps: list[str] = []  # dossiers that arrived while another call held them
        self.open_calls = 0  # sync calls not answered yet (a late one stores when its hang ends)

    def _validate(self, raw: list, model: type[HoSo] | type[TienDo]) -> tuple[list, str | None]:
        """The call's records or steps, typed already (TYPED_CALL) or judged here one by one."""
        out: list[HoSo | TienDo] = []
        for item in raw:
            code = _code(item)
            try:
                value = item if isinstance(item, model) else model.model_validate(item)
            except ValidationError as exc:
                return [], f"{code}: {_errors(exc)}"
            if not self.code_pattern.match(value.MaHoSo):
                return [], f"{code}: MaHoSo does not follow {self.settings.dossier_code_pattern}"
            if isinstance(value, HoSo) and INTERNAL_UNIT_KEY.match(value.DonViXuLy):
                return [], f"{code}: DonViXuLy is the unit's name, not a code"
            out.append(value)
        return out, None

    def sync(self, raw: list, updating: bool) -> JSONResponse:
        records, invalid = self._validate(raw, HoSo)
        if invalid:
            self.rejected += 1
            return answer("2", f"Dữ liệu không hợp lệ: {invalid}"[:2000])
        held = [r.MaHoSo for r in records if r.MaHoSo in self.dossiers]
        if not updating and held:
            self.exists += 1
            return answer("3" if len(held) == len(records) else "-3", f"Hồ sơ đã tồn tại: {', '.join(held[:20])}")
        if updating and len(held) < len(records):
            self.exists += 1
            missing = [r.MaHoSo for r in records if r.MaHoSo not in self.dossiers]
            return answer("4", f"Hồ sơ chưa tồn tại: {', '.join(missing[:20])}")
        for r in records:
            before = self.dossiers.get(r.MaHoSo)
            if before is not None and (why := impossible_change(int(before.TrangThaiHoSo), int(r.TrangThaiHoSo))):
                self.rejected += 1
                self.regressions += 1
                return answer("5", f"{r.MaHoSo}: {why}")
        for r in records:
            self.dossiers[r.MaHoSo] = r
            statuses = self.history.setdefault(r.MaHoSo, [])
            if not statuses or statuses[-1] != int(r.TrangThaiHoSo):
                statuses.append(int(r.TrangThaiHoSo))
        return answer("0", "Đồng bộ thành công", count=str(len(records)))

    def steps(self, raw: list) -> JSONResponse:
        steps, invalid = self._validate(raw, TienDo)
        if invalid:
            self.rejected += 1
            return answer("2", f"Dữ liệu không hợp lệ: {invalid}"[:2000])
        missing = sorted({s.MaHoSo for s in steps if s.MaHoSo not in self.dossiers})
        if missing:
            return answer("4", f"Hồ sơ chưa tồn tại: {', '.join(missing[:20])}")
        for s in steps:  # the same step twice is one step
            self.progress.setdefault(s.MaHoSo, {})[s.model_dump_json()] = s.model_dump()
        return answer("0", "Cập nhật tiến độ thành công", count=str(len(steps)))


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    # As a server it keeps every record it accepted (hundreds of MiB in the bench): the services'
    # collector settings keep the cyclic passes from walking them again and again (its CPU in the
    # bench 3.4 -> 2.8 core-s). At start-up, not in create_app: tests build many apps in one process.
    tune_garbage_collection()
    yield


def create_app(settings: SimulatorSettings | None = None) -> FastAPI:
    state = PortalState(settings or SimulatorSettings())
    s = state.settings
    app = FastAPI(title="Cổng Dịch vụ công quốc gia — simulator", version="2.0.0", lifespan=_lifespan)
    app.state.portal = state

    async def admitted(request: Request) -> bytes:
        """The body of a call that passed the faults (faults.py) and carries our dstcode header.
        Read raw and parsed by pydantic in one pass: FastAPI's body parsing and dependencies were
        a third of the simulator's CPU, which the bench counts against the pipeline it measures."""
        await state.faults.answer("portal")
        if request.headers.get("dstcode") != s.dstcode:
            raise HTTPException(400, detail={"error_code": "1", "message": "missing or unknown dstcode header"})
        return await request.body()

    @app.post(s.auth_path)
    async def login(request: Request) -> JSONResponse:
        """Open a session (valid for session_seconds)."""
        try:
            credentials = Login.model_validate_json(await admitted(request))
        except ValidationError as exc:
            return answer("1", _errors(exc), 400)
        if (credentials.username, credentials.password) != (s.username, s.password):
            return answer("-1", "Sai tên đăng nhập hoặc mật khẩu", 401)
        session = secrets.token_urlsafe(24)
        state.sessions[session] = time.monotonic() + s.session_seconds
        return answer("0", "", session=session)

    @app.post(s.service_path)
    async def integration(request: Request) -> JSONResponse:
        """TraCuuHoSo, DongBoHoSoMC or CapNhatTienDoHoSoMC, by `service`."""
        body = await admitted(request)
        call: Call
        try:
            call = TYPED_CALL.validate_json(body)
        except ValidationError:
            try:  # read again, its records or steps left to be judged one by one (PortalState)
                call = Call.model_validate_json(body)
            except ValidationError as exc:
                return answer("1", _errors(exc), 400)
        if state.sessions.get(call.session, 0) < time.monotonic():
            return answer("-1", "Phiên làm việc không hợp lệ hoặc đã hết hạn", 401)
        state.calls += 1
        if call.service == "TraCuuHoSo":
            held = state.dossiers.get(call.mahoso or "")
            return answer("0", "", result=[held.model_dump(mode="json")] if held else [])
        if call.service == "DongBoHoSoMC":
            return await sync_through_faults(call.data or [], call.isUpdating == "True")
        return state.steps(call.data or [])

    async def sync_through_faults(data: list, updating: bool) -> JSONResponse:
        """Store through the faults around storing (faults.py), noting a dossier that arrives while
        another call still holds it: sent by two callers at once."""
        codes = [str(c) for c in map(_code, data) if c is not None]
        state.overlaps += [c for c in codes if state.sending.get(c)]
        for c in codes:
            state.sending[c] = state.sending.get(c, 0) + 1
        released = asyncio.Event()

        def release() -> None:  # a call holds its dossiers until it stored, or its caller gave up
            if not released.is_set():
                released.set()
                for c in codes:
                    state.sending[c] -= 1

        def store() -> JSONResponse:
            release()
            return state.sync(data, updating)

        state.open_calls += 1
        try:
            return await state.faults.around_store(store, abandoned=release)
        finally:
            state.open_calls -= 1
            release()

    @app.post("/admin/faults", tags=["admin"])
    async def set_faults(body: FaultSettings) -> dict:
        """Change the failure ratios, the rate limit, or start an outage of down_for_seconds."""
        state.faults.configure(body)
        return body.model_dump()

    @app.post("/admin/sessions/expire", tags=["admin"])
    async def expire_sessions() -> dict:
        """End every open session now (the portal's sessions expire on their own too)."""
        count = len(state.sessions)
        state.sessions.clear()
        return {"expired": count}

    @app.get("/admin/dossiers", tags=["admin"])
    async def statuses() -> dict:
        """Each dossier's current status and the statuses it went through, in order."""
        return {
            code: {
                "status": int(d.TrangThaiHoSo),
                "history": state.history[code],
                "steps": len(state.progress.get(code, {})),
            }
            for code, d in state.dossiers.items()
        }

    @app.get("/admin/dossiers/{code}", tags=["admin"])
    async def held_record(code: str) -> dict:
        """The record held for a dossier, with its progress steps (tests compare them)."""
        if code not in state.dossiers:
            raise HTTPException(404, detail="no such dossier")
        return {
            "record": state.dossiers[code].model_dump(mode="json"),
            "progress": list(state.progress.get(code, {}).values()),
        }

    @app.get("/health")
    async def health() -> dict:
        return {
            "status": "ok",
            "dossiers": len(state.dossiers),
            "calls": state.calls,
            "rejected": state.rejected,
            "regressions": state.regressions,
            "exists": state.exists,
            "overlaps": len(state.overlaps),
            "open_calls": state.open_calls,
            "verdicts": state.faults.counts,
        }

    return app
