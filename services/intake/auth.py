"""Who is posting: the counter system's API key (header X-API-Key), then its rate limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from services.intake.apikeys import Caller, find_caller

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="The counter system's API key (created with `python -m services.intake.keys create`).",
)
UNAUTHORIZED = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'}


async def authenticate(request: Request, key: Annotated[str | None, Security(api_key_header)]) -> Caller:
    """The caller of this request: 401 without a valid key, 429 over its rate limit."""
    if not key or len(key) > 200:
        raise HTTPException(401, detail="a valid X-API-Key header is required", headers=UNAUTHORIZED)
    async with request.app.state.runtime.sessionmaker() as session:
        caller = await find_caller(session, key)
    if caller is None:
        # One answer for malformed, unknown, revoked and expired keys: nothing to probe.
        raise HTTPException(401, detail="invalid, revoked or expired API key", headers=UNAUTHORIZED)
    limiter = request.app.state.rate_limiter
    wait = limiter.take(caller.name)
    if wait > 0:
        raise HTTPException(429, detail="rate limit exceeded; retry later",
                            headers={"Retry-After": limiter.retry_after(wait)})
    return caller


CallerDep = Annotated[Caller, Depends(authenticate)]
