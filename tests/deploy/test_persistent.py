"""The persistent deployment (python -m deploy): two starts keep every dossier; a backup restored
into destroyed schemas, with the consumers catching up from their stored offsets, gives the same
figures, including what happened after the backup (the topics keep every record)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from deploy.__main__ import Deployment
from deploy.launch import ROOT, SERVICES, free_port
from deploy.quiescence import wait_until_quiet
from shared.migrations import SERVICES as SCHEMA_SERVICES
from shared.migrations import head
from simulators.counter.events import EventFactory
from tests.conftest import DATABASE_URL, KAFKA
from tests.deploy.alarms import named_metrics, served
from tests.e2e.test_pipeline import at, august_dossiers

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
def deploy_env(topics, schemas):
    return dict(
        os.environ,
        DATABASE_URL=DATABASE_URL,
        KAFKA_BOOTSTRAP=KAFKA,
        TOPIC_PREFIX=topics.prefix,
        SCHEMA_PREFIX=schemas,
        SYNC_DOCSYS_URL="",  # the document system's round trips come later: not here
        DEPLOY_PORTS=",".join(f"{s.name}={free_port()}" for s in SERVICES),
    )


@pytest.fixture
def deployment(tmp_path, deploy_env):
    data = tmp_path / "data"
    made = Deployment(data)

    def run(*args: str) -> str:
        t = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "deploy", "--data-dir", str(data), *args],
            env=deploy_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, f"deploy {' '.join(args)}: {done.stdout}\n{done.stderr}"
        print(f"deploy {args[0]}: {time.monotonic() - t:.1f} s")
        return done.stdout

    made.run = run
    yield made
    made.stop()


def settings_files(deployment: Deployment) -> dict[str, str]:
    return {p.name: p.read_text() for p in (deployment.data / "env").iterdir() if p.is_file()}


def api_key(deployment: Deployment) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "services.intake.keys", "create", "--or-rotate", "--name", "test", "--units", "H44"],
        env=deployment.service_env("intake"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


async def post(deployment: Deployment, key: str, events: list[dict]) -> None:
    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": key}) as client:
        response = await client.post(deployment.url("intake") + "/v1/events/batch", json=events)
        assert response.status_code == 200, response.text


async def figures(deployment: Deployment) -> dict:
    """The indicators of 2026-08 once metrics has read processing's catalog. Right after a start
    it may not have yet (services start together; a failed read is tried again after a few
    seconds), and until then the online-service components are shown not scored, by design
    (services/metrics/catalog.py)."""
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(timeout=30) as client:
        while True:
            response = await client.get(deployment.url("metrics") + "/v1/indicators", params={"period": "2026-08"})
            report = response.json()
            if _catalog_scored(report) or time.monotonic() > deadline:
                return {"unit": report["unit"], "children": report["children"]}
            await asyncio.sleep(0.2)


def _catalog_scored(node: object) -> bool:
    """Whether CLGQ 3.1 (procedures offering online services, from the catalog) is scored."""
    if isinstance(node, dict):
        if node.get("code") == "CLGQ.3.1":
            return bool(node.get("tracked"))
        return any(_catalog_scored(v) for v in node.values())
    if isinstance(node, list):
        return any(_catalog_scored(v) for v in node)
    return False


async def every_metric_the_alarms_read_is_served(deployment: Deployment) -> None:
    """deploy/alerts.yml and deploy/grafana-dashboard.json name only what the services export."""
    names: set[str] = set()
    async with httpx.AsyncClient(timeout=30) as client:
        for service in ("intake", "processing", "sync", "metrics"):
            names |= served((await client.get(deployment.url(service) + "/metrics")).text)
    assert named_metrics() - names == set()


async def dossiers(db, schemas: str) -> dict[str, int]:
    async with db.connect() as conn:
        rows = await conn.execute(text(f'SELECT code, revision FROM "{schemas}processing".dossiers'))
        return dict(rows.all())


async def test_two_starts_keep_every_dossier_and_a_restore_gives_the_same_figures(deployment, db, topics, schemas):
    deployment.run("start")
    await every_metric_the_alarms_read_is_served(deployment)
    env_files = settings_files(deployment)
    key = api_key(deployment)
    await post(deployment, key, august_dossiers())
    await wait_until_quiet(db, KAFKA, topics, schemas)
    kept, shown = await dossiers(db, schemas), await figures(deployment)
    assert len(kept) == 8

    deployment.run("stop")
    upgraded = deployment.run("upgrade")  # nothing to do: every schema is at head already
    assert all(f"{s}: {head(s)} -> {head(s)}" in upgraded for s in SCHEMA_SERVICES), upgraded
    deployment.run("start")
    assert settings_files(deployment) == env_files  # the secrets too
    assert await dossiers(db, schemas) == kept
    assert await figures(deployment) == shown
    assert '"topics": "ok"' in deployment.run("status")

    started = time.monotonic()
    backup = Path(deployment.run("backup").split()[1])
    backup_seconds = time.monotonic() - started
    # After the backup: a new dossier and a later step of an old one (the data-loss window).
    f = EventFactory("motcua-test")
    late = [
        f.received("H44.100-260812-0001", at("2026-08-12"), unit="H44.100", procedure="1.000894", channel=2),
        f.processed("H44.100-260810-0001", at("2026-08-13")),
    ]
    await post(deployment, key, late)
    await wait_until_quiet(db, KAFKA, topics, schemas)
    kept, shown = await dossiers(db, schemas), await figures(deployment)
    assert len(kept) == 9

    deployment.run("stop")
    async with db.begin() as conn:  # the disk is lost: every service schema with it
        for service in ("intake", "processing", "sync", "metrics"):
            await conn.execute(text(f'DROP SCHEMA "{schemas}{service}" CASCADE'))
    started = time.monotonic()
    deployment.run("restore", "--from", str(backup))
    deployment.run("start")
    await wait_until_quiet(db, KAFKA, topics, schemas)
    restore_seconds = time.monotonic() - started
    assert await dossiers(db, schemas) == kept  # including the dossier posted after the backup
    assert await figures(deployment) == shown
    print(f"\nbackup {backup_seconds:.1f} s; restore + start + catch-up {restore_seconds:.1f} s")
