"""Reader credentials for per-dossier data (processing's dossiers and anomalies, metrics' drill-down).

A reader presents `Authorization: Bearer <token>`. Services keep only the tokens' sha256 digests,
in the setting READER_TOKEN_SHA256 (comma-separated; the same for every service that serves
per-dossier data, hence one prefix rather than the service's own). Unset, a service answers
503 on reader routes rather than serving them open. Published aggregates
stay public while READER_PUBLIC_AGGREGATES is true (the default); use AggregateReaderDep there.

    python -m shared.auth   # a new reader token, and the digest to put in READER_TOKEN_SHA256
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.ratelimit import RateLimiter, client_ip

log = logging.getLogger(__name__)
bearer = HTTPBearer(auto_error=False, description="A reader token (python -m shared.auth)")


class ReaderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="READER_", extra="ignore")

    # Comma-separated hex digests. Unset means no reader is configured: reader routes fail
    # closed (503), never open.
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

    def digests(self, role: str = "reader") -> list[str]:
        value = self.operator_token_sha256 if role == "operator" else self.token_sha256
        return [d.strip().lower() for d in (value or "").split(",") if d.strip()]


def _settings(request: Request) -> ReaderSettings:
    # Read once per application, at its first reader request; kept on app.state.
    state = request.app.state
    if not hasattr(state, "reader_settings"):
        settings = state.reader_settings = ReaderSettings()
        state.public_limiter = RateLimiter(settings.public_rate_per_second, settings.public_burst)
        if not settings.digests():
            log.error("READER_TOKEN_SHA256 is not set: reader routes answer 503")
    held: ReaderSettings = state.reader_settings
    return held


def token_matches(token: str, digests: list[str]) -> bool:
    """Whether sha256(token) is one of the digests, compared in constant time against all."""
    presented = hashlib.sha256(token.encode()).hexdigest()
    matches = [hmac.compare_digest(presented, d) for d in digests]
    return any(matches)


def _check(request: Request, credentials: HTTPAuthorizationCredentials | None, role: str = "reader") -> str:
    digests = _settings(request).digests(role)
    if not digests:
        raise HTTPException(503, detail=f"{role} credentials are not configured")
    if credentials is None or not token_matches(credentials.credentials, digests):
        raise HTTPException(401, detail=f"a valid {role} token is required",
                            headers={"WWW-Authenticate": "Bearer"})
    return role


async def require_reader(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> str:
    """A valid reader token (401 otherwise)."""
    return _check(request, credentials)


async def aggregate_reader(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> str:
    """Nothing while aggregates are public (READER_PUBLIC_AGGREGATES, default true), within the
    per-address limit unless a reader token comes with the request; else a reader."""
    settings = _settings(request)
    if not settings.public_aggregates:
        return _check(request, credentials)
    if credentials is not None and token_matches(credentials.credentials, settings.digests()):
        return "reader"
    limiter: RateLimiter = request.app.state.public_limiter
    if wait := limiter.take(client_ip(request)):
        raise limiter.refuse(wait, "too many anonymous requests from this address; retry later "
                                   "(or read with a reader token)")
    return "public"


async def require_operator(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> str:
    """A valid operator token (401 otherwise): for routes that change state."""
    return _check(request, credentials, "operator")


ReaderDep = Annotated[str, Depends(require_reader)]
AggregateReaderDep = Annotated[str, Depends(aggregate_reader)]
READER = Depends(require_reader)  # for a route's dependencies=[...]
OPERATOR = Depends(require_operator)


def new_token() -> tuple[str, str]:
    """A token and its sha256 digest."""
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode()).hexdigest()


if __name__ == "__main__":
    token, digest = new_token()
    print(f"token (give it to the reader or operator; shown once): {token}")
    print(f"add to READER_TOKEN_SHA256 (readers) or READER_OPERATOR_TOKEN_SHA256 (operators): {digest}")
