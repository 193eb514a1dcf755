"""The admin command, as an operator runs it: create prints the key once, list never shows it,
rotate and revoke change which key intake accepts."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import DATABASE_URL
from tests.intake.harness import client, received, running_intake

pytestmark = pytest.mark.integration


def keys(schemas: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, INTAKE_DATABASE_URL=DATABASE_URL, INTAKE_DB_SCHEMA=f"{schemas}intake")
    return subprocess.run(
        [sys.executable, "-m", "services.intake.keys", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def status(app, key: str, code: str) -> int:
    async with client(app, key) as c:
        return (await c.post("/v1/events", json=received(code))).status_code


async def test_create_list_rotate_revoke(topics, schemas):
    created = keys(schemas, "create", "--name", "motcua-h44-100", "--units", "H44.100,H44.101")
    assert created.returncode == 0, created.stderr
    first = created.stdout.strip()
    assert first.startswith("dk.") and "shown once" in created.stderr
    assert keys(schemas, "create", "--name", "motcua-h44-100", "--units", "H44.100").returncode == 2
    assert "unknown unit codes: H44.999" in keys(schemas, "create", "--name", "x", "--units", "H44.999").stderr

    listed = keys(schemas, "list").stdout
    assert "motcua-h44-100" in listed and "H44.100,H44.101" in listed and "active" in listed
    assert first.split(".")[2] not in listed  # the secret is never shown again

    async with running_intake(topics, schemas) as app:
        assert await status(app, first, "H44.101-260815-0001") == 201
        second = keys(schemas, "rotate", "--name", "motcua-h44-100").stdout.strip()
        assert await status(app, first, "H44.101-260815-0002") == 401
        assert await status(app, second, "H44.101-260815-0002") == 201
        revoked = keys(schemas, "revoke", "--name", "motcua-h44-100")
        assert revoked.stdout.strip() == "revoked 1 key(s) of motcua-h44-100"
        assert await status(app, second, "H44.101-260815-0003") == 401
    assert keys(schemas, "revoke", "--name", "motcua-h44-100").returncode == 2
