"""Typed dependencies and answer types for the services' HTTP routes.

A route names what it needs as a parameter (`runtime: RuntimeDep`, `session: SessionDep`,
`settings: SettingsDep[...]` through the service's own alias) instead of reaching into
`request.app.state`: the type says what the value is, and a test can override the dependency.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from pydantic import PlainSerializer, WithJsonSchema
from sqlalchemy.ext.asyncio import AsyncSession

from shared.runtime import Runtime


# Dependencies are `async def` even when they await nothing: FastAPI runs a plain `def` in its
# thread pool, a thread hop per request and per dependency (most of intake's idle-looking CPU in
# the bench's profile was threads handing requests back and forth).
async def app_runtime(request: Request) -> Runtime:
    """The service's runtime (engine, producer, relay), set by its lifespan."""
    return cast(Runtime, request.app.state.runtime)


async def app_settings(request: Request) -> Any:
    """The service's settings, set by create_app; each service types it with its own alias
    (`Annotated[SyncSettings, Depends(app_settings)]`)."""
    return request.app.state.settings


RuntimeDep = Annotated[Runtime, Depends(app_runtime)]


async def _session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    # No transaction is opened here: a route that writes says `async with session.begin()`, so it
    # answers only after its commit; one that reads runs in the session's implicit transaction.
    async with runtime.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session)]

# A timestamp in an answer, written as the routes always wrote it (datetime.isoformat(): "+00:00",
# where pydantic's own JSON would write "Z"), so typing the answers changed no byte of them.
Timestamp = Annotated[
    datetime,
    PlainSerializer(lambda v: v.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
