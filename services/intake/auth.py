"""Who is posting: the counter system's API key (header X-API-Key), then its rate limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from services.intake.apikeys import KEYS, Caller
from shared.credentials import authenticate as check
from shared.ratelimit import RateLimiter

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
    state = request.app.state
    caller = await check(
        request,
        key,
        KEYS,
        failures=state.auth_failure_limiter,
        known=state.known_keys,
        headers=UNAUTHORIZED,
        what="API key",
    )
    limiter: RateLimiter = state.rate_limiter
    if wait := limiter.take(caller.name):
        raise limiter.refuse(wait)
    return caller


CallerDep = Annotated[Caller, Depends(authenticate)]
