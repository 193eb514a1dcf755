"""Probes (medium): the per-address limits could be dodged by rotating X-Forwarded-For (uvicorn
trusted it from 127.0.0.1), and a valid key from an address that a flood of bad keys blocked was
refused too. Forwarded headers are now trusted only from configured proxies (none by default),
and a key that authenticated lately passes the per-address limit while the flood is refused
without a database look-up."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
import pytest

from deploy.launch import ROOT, free_port, uvicorn_command
from shared.credentials import Credentials
from tests.intake.harness import client, new_key, received, running_intake

pytestmark = pytest.mark.integration


def whoami(monkeypatch, proxies: str | None) -> list[str]:
    """The client address a service started as the launcher starts it sees, for three rotated
    X-Forwarded-For headers."""
    port = free_port()
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)  # uvicorn's own default source
    if proxies:
        monkeypatch.setenv("TRUSTED_PROXIES", proxies)
    else:
        monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    command = uvicorn_command("tests.security.whoami:create_app", port)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                return [
                    httpx.get(
                        f"http://127.0.0.1:{port}/whoami", headers={"X-Forwarded-For": f"10.0.0.{n}"}, timeout=2
                    ).json()["client"]
                    for n in range(3)
                ]
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)  # polling interval while uvicorn starts, bounded by the deadline
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_forwarded_headers_are_ignored_unless_a_proxy_is_configured(monkeypatch):
    assert whoami(monkeypatch, None) == ["127.0.0.1"] * 3  # rotating the header changes nothing
    assert whoami(monkeypatch, "127.0.0.1") == ["10.0.0.0", "10.0.0.1", "10.0.0.2"]  # behind a configured proxy


async def test_a_flood_of_bad_keys_neither_reaches_the_database_nor_locks_out_a_known_key(topics, schemas, monkeypatch):
    lookups = []
    original = Credentials.find

    async def counted(self, session, credential, **kwargs):
        lookups.append(credential)
        return await original(self, session, credential, **kwargs)

    async with running_intake(topics, schemas, auth_failures_per_second=0.01, auth_failures_burst=5) as app:
        key = await new_key(app, "motcua-h44-100", ["H44.100"])
        async with client(app, key) as c:
            assert (await c.post("/v1/events", json=received("H44.100-260812-0001"))).status_code == 201
        monkeypatch.setattr(Credentials, "find", counted)
        flood = []
        for n in range(50):
            async with client(app, f"dk.{n:012d}.guess") as c:
                flood.append((await c.post("/v1/events", json=received("H44.100-260812-0002"))).status_code)
        assert flood == [401] * 5 + [429] * 45
        assert len(lookups) == 5  # the blocked ones cost no look-up
        async with client(app, key) as c:  # same address, a key that worked before: let through
            assert (await c.post("/v1/events", json=received("H44.100-260812-0003"))).status_code == 201
        async with client(app, "dk.999999999999.guess") as c:  # and the flood is still held back
            assert (await c.post("/v1/events", json=received("H44.100-260812-0004"))).status_code == 429
