"""What every service's requests go through before and after the handlers: a body size limit,
security headers, validation errors that name fields without echoing values, 503 with
Retry-After while the database is unavailable, and one answer for unexpected errors that never
shows a stack trace."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db import is_transient
from shared.events import MAX_ERRORS  # validation errors listed in one answer

log = logging.getLogger(__name__)

# Sent with every answer. The dashboard is served from 'self' only (no inline script or style;
# the JavaScript sets styles through the DOM); FastAPI's /docs pages load Swagger UI from a CDN,
# so the strict policy applies to every path but those.
HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer")]
CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")


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


class SecurityHeaders:
    """nosniff, no framing, no referrer on every answer; the content security policy too, but on
    the API docs pages (they load Swagger UI and ReDoc from a CDN)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        extra = HEADERS if scope["path"].startswith(DOCS_PATHS) else [*HEADERS, (b"content-security-policy", CSP)]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """("body", "data", "unit_code") → data.unit_code; ("query", "limit") → limit."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def field_errors(errors: list[dict[str, Any]], limit: int = MAX_ERRORS) -> list[dict[str, str]]:
    """Each failing field and why, without the value that failed (it may be an identity number
    or a name); at most `limit`, then one line saying how many more."""
    listed = [
        {"field": field_name(e.get("loc", ())), "message": str(e.get("msg", "invalid"))[:300]} for e in errors[:limit]
    ]
    if len(errors) > limit:
        listed.append({"field": "…", "message": f"{len(errors) - limit} more errors not listed"})
    return listed


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's default 422 repeats the input; this one names the fields only."""
    errors = list(exc.errors()) if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": field_errors(errors)}, status_code=422)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Log the trace under a correlation id; answer only the id."""
    correlation_id = uuid.uuid4().hex
    log.error("unexpected error %s on %s %s", correlation_id, request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {"detail": "internal error; quote the correlation id when reporting it", "correlation_id": correlation_id},
        status_code=500,
        headers={"X-Correlation-ID": correlation_id},
    )


# Seconds a sender waits before retrying while the database is unavailable: a restart or a
# failover takes a few seconds, and the counter systems retry each batch on their own.
DATABASE_RETRY_AFTER = "2"
# Raised when the database is unreachable or refuses: SQLAlchemy's wrapped errors, the driver's
# own (a refused connect comes out raw), and a refused or reset socket.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    DBAPIError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    ConnectionError,
)


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A database that cannot be reached, or that asks for the statement to be tried again: the
    request is not at fault, so its sender is told to come back (503, Retry-After) rather than
    that we failed (500). Nothing of the error is answered: a database's message can quote values."""
    if not is_transient(exc):
        return await unexpected_error(request, exc)
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return JSONResponse(
        {"detail": "the database is unavailable; retry later"},
        status_code=503,
        headers={"Retry-After": DATABASE_RETRY_AFTER},
    )


# What the validation-error handler answers, declared in place of FastAPI's default (which has
# loc/msg/type and the input): 422s carry {"detail": [{"field", "message"}]}, or a route's own
# detail (a sentence, or an outcome), so the document promises only a detail.
VALIDATION_ERROR_SCHEMA = {
    "title": "HTTPValidationError",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "anyOf": [
                {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "message"],
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
                {"type": "string"},
                {"type": "object"},
            ]
        }
    },
}


def edit_openapi(app: FastAPI, *edits: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Generate the OpenAPI document once, then pass it through each edit."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for edit in edits:
                document = edit(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customize it


def _declare_validation_errors(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.get("components", {}).get("schemas", {})
    if "HTTPValidationError" in schemas:
        schemas["HTTPValidationError"] = VALIDATION_ERROR_SCHEMA
    return document


def install_guards(app: FastAPI, *, max_body_bytes: int) -> None:
    edit_openapi(app, _declare_validation_errors)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(RequestValidationError, validation_error)
    for error in DATABASE_ERRORS:  # before the catch-all below: the more specific class wins
        app.add_exception_handler(error, database_unavailable)
    app.add_exception_handler(Exception, unexpected_error)
