"""Who is posting: the counter system's API key (header X-API-Key), then its rate limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from services.intake.apikeys import Caller, find_caller
from shared.credentials import KnownDigests
from shared.ratelimit import RateLimiter, client_ip

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="The counter system's API key (created with `python -m services.intake.keys create`).",
)
UNAUTHORIZED = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'}


async def authenticate(request: Request, key: Annotated[str | None, Security(api_key_header)]) -> Caller:
    """The caller of this request: 401 without a valid key, 429 over its rate limit.

    Failed attempts are limited per client address: past the limit, that address gets 429
    without a database look-up until its budget refills, except for keys that authenticated
    lately (their digests are kept in memory): a flood of bad keys from a shared address
    neither reaches the database nor locks out the counter systems behind it.
    """
    failures: RateLimiter = request.app.state.auth_failure_limiter
    known: KnownDigests = request.app.state.known_keys
    ip = client_ip(request)
    if not (key and key in known) and (wait := failures.wait(ip)):
        raise failures.refuse(wait, "too many failed authentications from this address; retry later")
    caller = None
    if key and len(key) <= 200:
        async with request.app.state.runtime.sessionmaker() as session:
            caller = await find_caller(session, key)
    if caller is None:
        failures.take(ip)
        if key:
            known.discard(key)  # revoked or expired since
        if not key:
            raise HTTPException(401, detail="a valid X-API-Key header is required", headers=UNAUTHORIZED)
        # One answer for malformed, unknown, revoked and expired keys: nothing to probe.
        raise HTTPException(401, detail="invalid, revoked or expired API key", headers=UNAUTHORIZED)
    known.add(key)
    limiter: RateLimiter = request.app.state.rate_limiter
    if wait := limiter.take(caller.name):
        raise limiter.refuse(wait)
    return caller


CallerDep = Annotated[Caller, Depends(authenticate)]
