"""Reader and operator credentials for per-dossier data and for changes.

A reader presents `Authorization: Bearer <token>` and reads only the dossiers of the units its
token is bound to (and the units below them): a commune's official sees that commune, the
province office (bound to H44) sees every unit.

- Reader tokens are made, rotated and revoked by command and stored hashed, like API keys
  (shared/credentials.py), in the table `reader_tokens` of the schema READER_DB_SCHEMA
  (default "readers") in the services' database; every service with reader routes reads it:

      python -m shared.auth create --name phuong-a --units H44.100.01
      python -m shared.auth rotate --name phuong-a [--grace-minutes 60]
      python -m shared.auth revoke --name phuong-a
      python -m shared.auth list

- Province-wide tokens and operator tokens are configured by their sha256 digests in
  READER_TOKEN_SHA256 and READER_OPERATOR_TOKEN_SHA256 (comma-separated; `python -m shared.auth
  digest` mints one): the demo's and the operators' credentials, which need no database.
  Without a province-wide digest only unit-bound tokens are accepted; without an operator
  digest, operator routes answer 503: never open.

Published aggregates stay public while READER_PUBLIC_AGGREGATES is true (the default); use
AggregateReaderDep there.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import logging
import secrets
import sys
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import ColumnElement, MetaData, String, or_, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, QueryableAttribute, mapped_column

from shared.credentials import (
    CredentialColumns,
    Credentials,
    Holder,
    KnownDigests,
    authenticate,
    command_main,
    command_parser,
    covers,
    dispatch,
)
from shared.ratelimit import RateLimiter, client_ip
from shared.units import load_units

log = logging.getLogger(__name__)
bearer = HTTPBearer(auto_error=False, description="A reader token (python -m shared.auth create)")
PREFIX = "rt"
SCHEMA = "readers"  # the name in the model; translated to READER_DB_SCHEMA per engine


class ReaderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="READER_", extra="ignore")

    # Comma-separated hex digests of province-wide reader tokens.
    token_sha256: str | None = None
    public_aggregates: bool = True
    # Anonymous reads of public aggregates, per client address (each one is an aggregation
    # query): a dashboard opens with about ten and then refreshes; readers with a token are
    # not limited.
    public_rate_per_second: float = 10.0
    public_burst: int = 60
    # Operators change things (the procedure catalog, re-queues, reconciliation): their own
    # tokens, READER_OPERATOR_TOKEN_SHA256; a reader token does not let anyone write.
    operator_token_sha256: str | None = None
    # Unit-bound reader tokens: their table's schema, in each service's database.
    db_schema: str = SCHEMA
    # Where the admin command finds that database (the services use their own connection).
    database_url: str = "postgresql+asyncpg://dossier:dossier@127.0.0.1:55432/dossier"
    # Failed reader authentications per client address (a guessed token costs a look-up).
    auth_failures_per_second: float = 1.0
    auth_failures_burst: int = 20

    def digests(self, role: str = "reader") -> list[str]:
        value = self.operator_token_sha256 if role == "operator" else self.token_sha256
        return [d.strip().lower() for d in (value or "").split(",") if d.strip()]


class Base(DeclarativeBase):
    metadata = MetaData()


class ReaderToken(CredentialColumns, Base):
    """A reader token bound to units: only its sha256 is kept."""

    __tablename__ = "reader_tokens"
    __table_args__ = {"schema": SCHEMA}

    units: Mapped[list[str]] = mapped_column(ARRAY(String(32)))


def reader_store(settings: ReaderSettings) -> Credentials:
    return Credentials(
        ReaderToken, prefix=PREFIX, scope="units", options={"schema_translate_map": {SCHEMA: settings.db_schema}}
    )


def _settings(request: Request) -> ReaderSettings:
    # Read once per application, at its first reader request; kept on app.state.
    state = request.app.state
    if not hasattr(state, "reader_settings"):
        settings = state.reader_settings = ReaderSettings()
        state.public_limiter = RateLimiter(settings.public_rate_per_second, settings.public_burst)
        state.reader_failures = RateLimiter(settings.auth_failures_per_second, settings.auth_failures_burst)
        state.known_readers = KnownDigests(ttl_seconds=600)
        state.reader_tokens = reader_store(settings)
        if not settings.digests():
            log.warning("READER_TOKEN_SHA256 is not set: only unit-bound reader tokens are accepted")
    held: ReaderSettings = state.reader_settings
    return held


def token_matches(token: str, digests: list[str]) -> bool:
    """Whether sha256(token) is one of the digests, compared in constant time against all."""
    presented = hashlib.sha256(token.encode()).hexdigest()
    matches = [hmac.compare_digest(presented, d) for d in digests]
    return any(matches)


def province_wide(name: str) -> Holder:
    return Holder(name, (load_units().root.code,))


UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


async def _reader(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Holder:
    settings = _settings(request)
    token = credentials.credentials if credentials else None
    if token and token_matches(token, settings.digests()):
        return province_wide("reader (READER_TOKEN_SHA256)")
    if token and not token.startswith(PREFIX + ".") and not settings.digests():
        # Neither kind can match: say that nothing is configured rather than "wrong token".
        raise HTTPException(503, detail="reader credentials are not configured")
    state = request.app.state
    try:
        return await authenticate(
            request,
            token if token and token.startswith(PREFIX + ".") else None,
            state.reader_tokens,
            failures=state.reader_failures,
            known=state.known_readers,
            headers=UNAUTHORIZED,
            what="reader token",
        )
    except DBAPIError as exc:  # the table was never created: no unit-bound token exists
        log.warning("reader tokens unavailable: %s", type(exc).__name__)
        raise HTTPException(401, detail="invalid, revoked or expired reader token", headers=UNAUTHORIZED) from exc


def _operator(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str:
    digests = _settings(request).digests("operator")
    if not digests:
        raise HTTPException(503, detail="operator credentials are not configured")
    if credentials is None or not token_matches(credentials.credentials, digests):
        raise HTTPException(401, detail="a valid operator token is required", headers=UNAUTHORIZED)
    return "operator"


async def require_reader(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> Holder:
    """A valid reader token (401 otherwise): who reads, and the units it may read."""
    return await _reader(request, credentials)


async def aggregate_reader(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> str:
    """Nothing while aggregates are public (READER_PUBLIC_AGGREGATES, default true), within the
    per-address limit unless a reader token comes with the request; else a reader."""
    settings = _settings(request)
    if not settings.public_aggregates:
        await _reader(request, credentials)
        return "reader"
    if credentials is not None and token_matches(credentials.credentials, settings.digests()):
        return "reader"
    limiter: RateLimiter = request.app.state.public_limiter
    if wait := limiter.take(client_ip(request)):
        raise limiter.refuse(
            wait, "too many anonymous requests from this address; retry later (or read with a reader token)"
        )
    return "public"


async def require_operator(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> str:
    """A valid operator token (401 otherwise): for routes that change state."""
    return _operator(request, credentials)


ReaderDep = Annotated[Holder, Depends(require_reader)]
AggregateReaderDep = Annotated[str, Depends(aggregate_reader)]
READER = Depends(require_reader)  # for a route's dependencies=[...]
OPERATOR = Depends(require_operator)


# What a reader may read. A dossier's unit is the unit-code prefix of its code
# (`<unit code>-YYMMDD-NNNN`, docs/domain.md §2).


def dossier_unit(dossier_code: str) -> str:
    """H44.100-260815-0042 → H44.100."""
    return dossier_code.rsplit("-", 2)[0]


def may_read(reader: Holder, dossier_code: str) -> bool:
    return covers(reader.units, dossier_unit(dossier_code), load_units())


def check_dossier(reader: Holder, dossier_code: str) -> None:
    """403 for a dossier of a unit the token is not bound to (its code names the unit: no secret)."""
    if not may_read(reader, dossier_code):
        raise HTTPException(403, detail=f"this reader token may not read the dossiers of {dossier_unit(dossier_code)}")


def check_unit(reader: Holder, unit: str) -> None:
    if not covers(reader.units, unit, load_units()):
        raise HTTPException(403, detail=f"this reader token may not read unit {unit}")


def readable(reader: Holder, dossier_code: QueryableAttribute[Any]) -> ColumnElement[bool]:
    """SQL: the dossier code belongs to one of the reader's units or a unit below them."""
    root = load_units().root.code
    if root in reader.units:
        return true()
    return or_(*[dossier_code.like(f"{u}-%") | dossier_code.like(f"{u}.%") for u in reader.units])


def new_token() -> tuple[str, str]:
    """A province-wide or operator token and its sha256 digest."""
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode()).hexdigest()


async def _run(args: argparse.Namespace) -> str:
    from shared.db import make_engine, make_sessionmaker

    settings = ReaderSettings()
    engine = make_engine(settings.database_url, settings.db_schema, pool_size=1)
    try:
        translated = engine.execution_options(schema_translate_map={SCHEMA: settings.db_schema})
        async with translated.begin() as conn:
            await conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{settings.db_schema}"')
            await conn.run_sync(Base.metadata.create_all)
        async with make_sessionmaker(translated)() as session, session.begin():
            return await dispatch(reader_store(settings), session, args, load_units())
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["digest"]:
        token, digest = new_token()
        print(f"token (give it to the reader or operator; shown once): {token}")
        print(
            f"add to READER_TOKEN_SHA256 (province-wide readers) or READER_OPERATOR_TOKEN_SHA256 (operators): {digest}"
        )
        return 0
    parser = command_parser(
        __doc__, what="reader", scope_flag="--units", scope_help="comma-separated unit codes whose dossiers it may read"
    )
    return command_main(parser, _run, argv)


if __name__ == "__main__":
    sys.exit(main())
