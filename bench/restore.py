"""Backup and restore at the demo's size: how long a pg_dump takes, how big it is, and how long
restoring it into destroyed schemas takes until every service is ready and caught up.

    .venv/bin/python -m bench.restore [--dossiers 4000]

Runs a persistent deployment (python -m deploy) on the test broker and database, under its own
topic and schema prefix, in a scratch data directory; everything it made is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.__main__ import Deployment
from deploy.launch import ROOT, SERVICES, free_port
from deploy.quiescence import wait_until_quiet
from shared.migrations import SERVICES as SCHEMA_SERVICES
from shared.topics import Topics

KAFKA = os.environ.get("TEST_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://dossier:dossier@127.0.0.1:55432/dossier")


def timed(what: str, work):
    started = time.monotonic()
    result = work()
    seconds = time.monotonic() - started
    print(f"{what}: {seconds:.1f} s", flush=True)
    return result, seconds


def api_key(deployment: Deployment) -> str:
    return subprocess.run(
        [sys.executable, "-m", "services.intake.keys", "create", "--name", "bench", "--units", "H44"],
        env=deployment.service_env("intake"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


async def main(dossiers: int) -> None:
    run = "br" + uuid.uuid4().hex[:8]
    topics, schemas = Topics(f"{run}."), f"{run}_"
    env = dict(
        os.environ,
        DATABASE_URL=DATABASE_URL,
        KAFKA_BOOTSTRAP=KAFKA,
        TOPIC_PREFIX=topics.prefix,
        SCHEMA_PREFIX=schemas,
        SYNC_DOCSYS_URL="",
        DEPLOY_PORTS=",".join(f"{s.name}={free_port()}" for s in SERVICES),
    )
    db = create_async_engine(DATABASE_URL)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        deployment = Deployment(data)

        def cli(*args: str) -> None:
            subprocess.run(
                [sys.executable, "-m", "deploy", "--data-dir", str(data), *args],
                env=env,
                cwd=ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
            )

        try:
            cli("start")
            key = api_key(deployment)
            timed(
                f"post {dossiers} dossiers and wait until quiet",
                lambda: subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "simulators.counter",
                        "--intake",
                        deployment.url("intake"),
                        "--dossiers",
                        str(dossiers),
                        "--rate",
                        "3000",
                        "--api-key",
                        key,
                    ],
                    cwd=ROOT,
                    check=True,
                    stdout=subprocess.DEVNULL,
                ),
            )
            await wait_until_quiet(db, KAFKA, topics, schemas, timeout=600)
            backup = data / "bench.dump"
            _, backup_s = timed("backup (pg_dump -Fc)", lambda: deployment.backup(backup))
            print(f"backup size: {backup.stat().st_size / 1e6:.1f} MB")
            cli("stop")
            async with db.begin() as conn:
                for s in SCHEMA_SERVICES:
                    await conn.execute(text(f'DROP SCHEMA "{schemas}{s}" CASCADE'))
            _, restore_s = timed("restore (pg_restore)", lambda: cli("restore", "--from", str(backup)))
            _, start_s = timed("start until every service is ready", lambda: cli("start"))
            started = time.monotonic()
            await wait_until_quiet(db, KAFKA, topics, schemas, timeout=600)
            print(f"caught up: {time.monotonic() - started:.1f} s; restore to serving: {restore_s + start_s:.1f} s")
        finally:
            deployment.stop()
            async with db.begin() as conn:
                for s in SCHEMA_SERVICES:
                    await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schemas}{s}" CASCADE'))
            await db.dispose()
            admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
            await admin.start()
            try:
                await admin.delete_topics(topics.all())
            finally:
                await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dossiers", type=int, default=4000)
    asyncio.run(main(parser.parse_args().dossiers))
