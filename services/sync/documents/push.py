"""Who may push envelopes to POST /v1/documents/inbox: a document system with its own
credential (`ds.<key_id>.<secret>` in the X-API-Key header, stored hashed, bound to the organ ids
it speaks for), and only for those organs.

    python -m services.sync.documents.push create --name vanban-h44 --organs H44
    python -m services.sync.documents.push rotate --name vanban-h44 [--grace-minutes 60]
    python -m services.sync.documents.push revoke --name vanban-h44 [--key-id 3fa2c1d09b7e]
    python -m services.sync.documents.push list

(settings SYNC_DATABASE_URL, SYNC_DB_SCHEMA). An organ id is a unit code: one bound to H44
speaks for every unit. The polled path (the connector fetching from the document system it was
configured with) needs none of this: there, sync chose whom it talks to.
"""

from __future__ import annotations

import argparse
import sys
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from services.sync.config import SyncSettings, SyncStoreSettings
from services.sync.documents.edxml import EdxmlError, parse
from services.sync.documents.models import DocsysCredential
from services.sync.documents.organs import unit_code
from shared.auth import dossier_unit
from shared.credentials import (
    Credentials,
    Holder,
    KnownDigests,
    authenticate,
    command_main,
    command_parser,
    dispatch,
)
from shared.db import make_engine, make_sessionmaker
from shared.migrations import prepare_schema
from shared.ratelimit import RateLimiter
from shared.units import load_units

PUSHERS = Credentials(DocsysCredential, prefix="ds", scope="organs")
header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="The document system's push credential (python -m services.sync.documents.push)",
)
UNAUTHORIZED = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'}


def install(app_state: Any, settings: SyncSettings) -> None:
    """The per-address limit on failed pushes and the cache of credentials that worked."""
    app_state.push_failures = RateLimiter(settings.auth_failures_per_second, settings.auth_failures_burst)
    app_state.known_pushers = KnownDigests()


async def pusher(request: Request, key: Annotated[str | None, Security(header)]) -> Holder:
    """The document system pushing: 401 without a valid credential (nothing about dossiers)."""
    state = request.app.state
    return await authenticate(
        request,
        key,
        PUSHERS,
        failures=state.push_failures,
        known=state.known_pushers,
        headers=UNAUTHORIZED,
        what="document-system credential",
    )


PusherDep = Annotated[Holder, Depends(pusher)]


def check_organ(raw: bytes, system: Holder) -> None:
    """403 when the envelope comes from an organ (national identifier, mapped to our unit code)
    the credential does not speak for; an envelope that cannot be read goes on to be rejected
    with its reason like a polled one."""
    try:
        sender = parse(raw).sender.id
    except EdxmlError:
        return
    unit = unit_code(sender) if sender else None
    if unit is None or not system.covers(unit, load_units()):
        raise HTTPException(403, detail=f"the credential {system.name!r} may not push for organ {sender}")


def answer_for(system: Holder, outcome: dict[str, Any]) -> dict[str, Any]:
    """The outcome as the pusher may see it: the reason only for dossiers of its own organs, so
    that a document system cannot learn which unit handles another unit's dossier."""
    code = outcome.get("dossier_code")
    if outcome["outcome"] == "rejected" and not (code and system.covers(dossier_unit(code), load_units())):
        return {"outcome": "rejected", "reason": "rejected; the reason is recorded for the province's operators"}
    return outcome


async def run(args: argparse.Namespace, settings: SyncStoreSettings | None = None) -> str:
    settings = settings or SyncStoreSettings()
    engine = make_engine(settings.database_url, settings.db_schema, pool_size=1)
    try:
        await prepare_schema(engine, settings.db_schema, "sync")
        async with make_sessionmaker(engine)() as session, session.begin():
            return await dispatch(PUSHERS, session, args, load_units())
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(
        __doc__,
        what="document system",
        scope_flag="--organs",
        scope_help="comma-separated organ ids (unit codes) it may push for",
    )
    return command_main(parser, run, argv)


if __name__ == "__main__":
    sys.exit(main())
