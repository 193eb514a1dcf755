"""Probes (high/low): sync had no body-size limit (a 22 MB envelope was stored) and the dashboard
sent no security headers. Every service now answers 413 before reading an oversized body, and
every answer carries nosniff, no framing and (but on the API docs) a content security policy."""

from __future__ import annotations

import pytest

from tests.intake.harness import running_intake
from tests.security.harness import (  # noqa: F401  (fixtures)
    OPERATOR,
    bearer,
    client,
    running_metrics,
    running_processing,
    running_sync,
    tokens,
)

pytestmark = pytest.mark.integration
LIMIT = 32 * 1024


async def oversized(app, path: str, method: str = "POST") -> list[int]:
    """Statuses for a body over LIMIT sent with its length and sent chunked (no length)."""

    async def chunks():
        for _ in range(LIMIT // 4096 + 2):
            yield b"x" * 4096

    async with client(app, **bearer(OPERATOR)) as c:
        declared = await c.request(
            method, path, content=b"{" + b" " * LIMIT + b"}", headers={"content-type": "application/json"}
        )
        streamed = await c.request(method, path, content=chunks(), headers={"content-type": "application/json"})
    return [declared.status_code, streamed.status_code]


async def test_every_service_refuses_an_oversized_body_with_413(topics, schemas, tokens):  # noqa: F811
    async with running_processing(topics, schemas, max_body_bytes=LIMIT) as app:
        assert await oversized(app, "/v1/procedures/1.000894", "PUT") == [413, 413]
    async with running_sync(topics, schemas, max_body_bytes=LIMIT) as app:
        assert await oversized(app, "/v1/sync/requeue") == [413, 413]
        # Chunked and without a push credential: refused before a byte of it is read (with one:
        # test_docsys_push.py).
        assert await oversized(app, "/v1/documents/inbox") == [413, 401]
    async with running_metrics(topics, schemas, max_body_bytes=LIMIT) as app:
        assert (await oversized(app, "/v1/indicators"))[0] == 413
    async with running_intake(topics, schemas, max_body_bytes=LIMIT) as app:
        assert await oversized(app, "/v1/events") == [413, 413]


async def test_the_dashboard_and_the_api_send_security_headers(topics, schemas):
    async with running_metrics(topics, schemas) as app, client(app) as c:
        for path in ("/", "/v1/units", "/static/app.js"):
            answer = await c.get(path)
            assert answer.status_code == 200, path
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["x-frame-options"] == "DENY"
            policy = answer.headers["content-security-policy"]
            assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
            assert "unsafe-inline" not in policy
        docs = await c.get("/docs")  # Swagger UI comes from a CDN: no policy there, the rest stays
        assert "content-security-policy" not in docs.headers and docs.headers["x-frame-options"] == "DENY"


async def test_what_stays_public_is_what_docs_security_md_lists(topics, schemas):
    """/metrics, /docs, /openapi.json, /health and the published aggregates answer without a token
    (decided: no dossier, no person in them); per-dossier routes do not (test_reader_scope.py)."""
    async with running_metrics(topics, schemas) as app, client(app) as c:
        for path in ("/metrics", "/docs", "/openapi.json", "/health", "/v1/units", "/v1/indicators"):
            assert (await c.get(path)).status_code == 200, path
        for path in ("/v1/overdue", "/v1/dossiers/H44.100-260801-0001"):
            assert (await c.get(path)).status_code in (401, 503), path
