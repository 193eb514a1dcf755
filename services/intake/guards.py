"""What every request goes through before and after the handlers: a body size limit, and one
answer for unexpected errors that never shows a stack trace."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class BodyLimit:
    """413 for a body over max_bytes: at once by its Content-Length, or as soon as a body sent
    without one (chunked) grows past the limit, so a large body is never buffered whole."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_bytes:
            response = JSONResponse({"detail": f"the body exceeds {self.max_bytes} bytes"}, status_code=413)
            return await response(scope, receive, send)
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                # FastAPI reads the body inside the request handler: an HTTPException raised
                # here becomes the answer.
                raise HTTPException(413, detail=f"the body exceeds {self.max_bytes} bytes")
            return message

        await self.app(scope, limited, send)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Log the trace under a correlation id; answer only the id."""
    correlation_id = uuid.uuid4().hex
    log.error("unexpected error %s on %s %s", correlation_id, request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {"detail": "internal error; quote the correlation id when reporting it", "correlation_id": correlation_id},
        status_code=500,
        headers={"X-Correlation-ID": correlation_id},
    )


def install_guards(app: FastAPI, *, max_body_bytes: int) -> None:
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_exception_handler(Exception, unexpected_error)
