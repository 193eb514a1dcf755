"""Sync's HTTP transport over a real socket: what it sends, what it returns, and that every way
of getting no answer becomes Unreachable (which the callers turn into a retryable PortalError)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web

from services.sync.portal.client import PortalClient, PortalError
from services.sync.portal.transport import AiohttpTransport, Unreachable


@pytest.fixture
async def server():
    seen: list[tuple[str, dict, bytes]] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append((request.path, dict(request.headers), await request.read()))
        if request.path == "/slow":
            await asyncio.sleep(5)
        return web.Response(status=429, body=b'{"error_code": "0"}', headers={"Retry-After": "7"})

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/", seen
    await runner.cleanup()


async def test_a_post_carries_body_and_headers_and_returns_the_answer_as_is(server):
    url, seen = server
    async with AiohttpTransport(url, 5) as transport:
        reply = await transport.post("/api/integration", b'{"a": "1"}', {"dstcode": "000.00.00.H44"})
    assert seen == [("/api/integration", seen[0][1], b'{"a": "1"}')]
    assert seen[0][1]["dstcode"] == "000.00.00.H44"
    assert (reply.status, reply.headers["retry-after"], reply.json()) == (429, "7", {"error_code": "0"})


async def test_no_answer_is_unreachable_and_the_portal_client_says_try_again(server):
    url, _ = server
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    async with AiohttpTransport(closed, 5) as transport:
        with pytest.raises(Unreachable, match="ClientConnectorError"):
            await transport.post("/x", b"{}", {})
        client = PortalClient(transport, username="u", password="secret-pw", dstcode="d", madonvi="m")
        with pytest.raises(PortalError) as failed:
            await client.send_progress([])
        assert "secret-pw" not in str(failed.value)
    async with AiohttpTransport(url, 0.2) as transport:
        with pytest.raises(Unreachable, match="Timeout"):
            await transport.post("/slow", b"{}", {})


async def test_a_busy_portal_is_retried_after_what_it_asks(server):
    url, _ = server
    async with AiohttpTransport(url, 5) as transport:
        client = PortalClient(transport, username="u", password="p", dstcode="d", madonvi="m")
        with pytest.raises(PortalError) as busy:
            await client.login()
    assert busy.value.retry_after == 7.0
