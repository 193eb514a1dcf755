"""The persistent deployment: the services on data that is kept (never wiped), upgraded on command.

    python -m deploy [--data-dir DIR] init|start|stop|status|upgrade|backup|restore

init     writes DIR/env/<service>.env once (settings, generated secrets; the same files the systemd
         units read, see deploy/systemd/); never overwrites one that exists.
start    init if needed; brings up Kafka and PostgreSQL under DIR (deploy/infra.sh) when init was
         given no DATABASE_URL / KAFKA_BOOTSTRAP (DIR/env/deploy.env); creates or corrects the topics;
         starts each service (already running ones are left alone) and waits until it is ready.
         A schema behind the code refuses the start: run upgrade.
stop     stops the services (SIGTERM: each finishes its batch and drains its outbox); not the infra
         (`bash deploy/infra.sh down` with VAR=DIR does).
status   each service's process and /ready, each schema's revision against the code's, topic checks.
upgrade  corrects the topics' settings and migrates every schema to the code's head (stop first).
backup   pg_dump (custom format) of every service schema to DIR/backups/<UTC time>.dump (or --to).
restore  --from FILE: drops the service schemas and restores them (services stopped first);
         consumers then catch up from their restored offsets, since the topics keep every record.

Settings read at init (then kept in the env files): DATABASE_URL, KAFKA_BOOTSTRAP, TOPIC_PREFIX,
SCHEMA_PREFIX, KAFKA_REPLICATION_FACTOR, KAFKA_MIN_INSYNC_REPLICAS, DEPLOY_PORTS
("intake=8001,processing=8002,…"), SYNC_PORTAL_URL / _USERNAME / _PASSWORD (default: the portal
simulator, started with the services), DEPLOY_HOST (default 127.0.0.1). See docs/operations.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from deploy.launch import ROOT, SERVICES, Stack, _alive
from shared.db import make_engine
from shared.migrations import SERVICES as SCHEMA_SERVICES
from shared.migrations import head, schema_revision, upgrade_schema
from shared.topics import Topics, TopicSettings, check_topics, ensure_topics

DEFAULT_DATA = ROOT / "var" / "deploy"
READERS = ("intake", "processing", "sync", "metrics")  # serve per-dossier data to readers


class Deployment:
    def __init__(self, data_dir: Path, env_dir: Path | None = None):
        self.data = data_dir.resolve()
        self.env_dir = (env_dir or self.data / "env").resolve()
        self.run_dir, self.log_dir = self.data / "run", self.data / "log"
        self.backups = self.data / "backups"

    # --- configuration ------------------------------------------------------------------------

    def env_file(self, name: str) -> Path:
        return self.env_dir / f"{name}.env"

    def env(self, name: str) -> dict[str, str]:
        """A service's settings from its env file (systemd's EnvironmentFile format: KEY=value)."""
        values = {}
        for line in self.env_file(name).read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
        return values

    def init(self) -> list[str]:
        """Write the env files that do not exist yet; returns the ones written."""
        for d in (self.env_dir, self.run_dir, self.log_dir, self.backups):
            d.mkdir(parents=True, exist_ok=True)
        self.env_dir.chmod(0o700)  # secrets inside
        common = self._common()
        written = []
        for service in SERVICES:
            path = self.env_file(service.name)
            if path.exists():
                continue
            lines = {"PORT": str(common["ports"][service.name]), "HOST": common["host"]}
            if service.env_prefix:
                p = service.env_prefix
                lines |= {
                    f"{p}_DATABASE_URL": common["database_url"],
                    f"{p}_KAFKA_BOOTSTRAP": common["bootstrap"],
                    f"{p}_TOPIC_PREFIX": common["topic_prefix"],
                    f"{p}_DB_SCHEMA": common["schema_prefix"] + service.name,
                    "KAFKA_REPLICATION_FACTOR": common["replication"],
                    "KAFKA_MIN_INSYNC_REPLICAS": common["min_insync"],
                }
            if service.name == "intake":
                lines |= {
                    "INTAKE_APPLICANT_ID_KEY": secrets.token_hex(32),
                    # The applicants' sealed identities (services/intake/identity.py) and
                    # sync's credential to read them back for the portal.
                    "INTAKE_IDENTITY_KEYS_FILE": str(
                        self._secret("applicant-identity.keys", f"k1 {secrets.token_hex(32)}")
                    ),
                    "INTAKE_SERVICE_TOKENS_SHA256": f"sync={_digest(self._token('identity.token'))}",
                }
            if service.name in READERS:
                lines["READER_TOKEN_SHA256"] = _digest(self._token("reader.token"))
                lines["READER_OPERATOR_TOKEN_SHA256"] = _digest(self._token("operator.token"))
            if service.name == "metrics":
                lines["METRICS_PROCESSING_URL"] = f"http://{common['host']}:{common['ports']['processing']}"
            if service.name == "sync":
                lines |= {
                    "SYNC_PORTAL_URL": common["portal_url"],
                    "SYNC_PORTAL_USERNAME": common["portal_user"],
                    "SYNC_PORTAL_PASSWORD": common["portal_password"],
                    "SYNC_DOCSYS_URL": common["docsys_url"],
                    "SYNC_INTAKE_URL": f"http://{common['host']}:{common['ports']['intake']}",
                    "SYNC_INTAKE_TOKEN": self._token("identity.token"),
                }
            if common["simulated"] and service.name in ("sync", "docsys-simulator"):
                # The simulators' throwaway signing authority, as the demo makes it; a real
                # document system's keys and trust store are set in sync.env instead.
                lines |= Stack(run_dir=self.env_dir)._signing_env(service.name)
                if service.name == "sync":  # the expiry alarm (shared/certificates.py)
                    lines["WATCH_CERTIFICATES"] = ",".join(
                        (lines["SYNC_DOCSYS_SIGNING_CERT"], lines["SYNC_DOCSYS_TRUST_STORE"])
                    )
            path.touch(mode=0o600)
            path.write_text(
                f"# {service.name}: written by `python -m deploy init` on {datetime.now(UTC):%Y-%m-%d}; "
                "edit, then restart the service.\n" + "".join(f"{k}={v}\n" for k, v in lines.items())
            )
            written.append(str(path))
        deploy_env = self.env_file("deploy")
        if not deploy_env.exists():
            # Kafka and PostgreSQL run under the data directory unless the settings named others.
            native = "DATABASE_URL" not in os.environ and "KAFKA_BOOTSTRAP" not in os.environ
            deploy_env.write_text(
                "# python -m deploy: 1 = start Kafka and PostgreSQL under the data directory\n"
                f"NATIVE_INFRA={int(native)}\n"
            )
            written.append(str(deploy_env))
        return written

    def _common(self) -> dict:
        e = os.environ
        ports = {s.name: s.port for s in SERVICES}
        for item in filter(None, e.get("DEPLOY_PORTS", "").split(",")):
            name, port = item.split("=")
            ports[name.strip()] = int(port)
        host = e.get("DEPLOY_HOST", "127.0.0.1")
        simulated = "SYNC_PORTAL_URL" not in e  # no real portal named: the simulators stand in
        return {
            "database_url": e.get("DATABASE_URL", "postgresql+asyncpg://dossier:dossier@127.0.0.1:55432/dossier"),
            "bootstrap": e.get("KAFKA_BOOTSTRAP", "127.0.0.1:19092"),
            "topic_prefix": e.get("TOPIC_PREFIX", ""),
            "schema_prefix": e.get("SCHEMA_PREFIX", ""),
            "replication": e.get("KAFKA_REPLICATION_FACTOR", "1"),
            "min_insync": e.get("KAFKA_MIN_INSYNC_REPLICAS", "1"),
            "ports": ports,
            "host": host,
            "portal_url": e.get("SYNC_PORTAL_URL", f"http://{host}:{ports['portal-simulator']}"),
            "portal_user": e.get("SYNC_PORTAL_USERNAME", "motcua-h44"),
            "portal_password": e.get("SYNC_PORTAL_PASSWORD", "demo-only"),
            "docsys_url": e.get("SYNC_DOCSYS_URL", f"http://{host}:{ports['docsys-simulator']}" if simulated else ""),
            "simulated": simulated,
        }

    def _token(self, name: str) -> str:
        """A token (reader, operator, sync's identity reads), made once and kept beside the env
        files (mode 0600)."""
        return self._secret(name, secrets.token_urlsafe(32)).read_text().strip()

    def _secret(self, name: str, first: str) -> Path:
        path = self.env_dir / name
        if not path.exists():
            path.touch(mode=0o600)
            path.write_text(first)
        return path

    def service_env(self, name: str) -> dict[str, str]:
        return dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1") | self.env(name)

    # What the whole deployment uses, read back from the env files (one source of truth).
    def database_url(self) -> str:
        return self.env("intake")["INTAKE_DATABASE_URL"]

    def schema(self, service: str) -> str:
        return self.env(service)[f"{service.upper()}_DB_SCHEMA"]

    def topics(self) -> Topics:
        return Topics(self.env("intake")["INTAKE_TOPIC_PREFIX"])

    def bootstrap(self) -> str:
        return self.env("intake")["INTAKE_KAFKA_BOOTSTRAP"]

    def topic_settings(self) -> TopicSettings:
        e = self.env("intake")
        return TopicSettings(
            kafka_replication_factor=int(e["KAFKA_REPLICATION_FACTOR"]),
            kafka_min_insync_replicas=int(e["KAFKA_MIN_INSYNC_REPLICAS"]),
        )

    def url(self, name: str) -> str:
        e = self.env(name)
        return f"http://{e['HOST']}:{e['PORT']}"

    # --- processes ----------------------------------------------------------------------------

    def pid(self, name: str) -> int | None:
        path = self.run_dir / f"{name}.pid"
        if not path.exists():
            return None
        pid = int(path.read_text())
        return pid if _alive(pid, None) else None

    def start(self, names: list[str] | None = None, timeout: float = 90) -> None:
        self.init()
        if self.env("deploy").get("NATIVE_INFRA") == "1":  # idempotent: leaves running ones alone
            subprocess.run(
                ["bash", str(ROOT / "deploy" / "infra.sh"), "up"], check=True, env=dict(os.environ, VAR=str(self.data))
            )
        problems = asyncio.run(ensure_topics(self.bootstrap(), self.topics(), settings=self.topic_settings()))
        if problems:
            raise SystemExit("topics: " + "; ".join(problems))
        sync = self.env("sync")
        used = {sync.get("SYNC_PORTAL_URL", ""), sync.get("SYNC_DOCSYS_URL", "")}
        # A simulator runs only where sync is pointed at it (not beside a real portal).
        wanted = [
            s for s in SERVICES if (names is None or s.name in names) and (s.env_prefix or self.url(s.name) in used)
        ]
        started = []
        for service in wanted:
            if self.pid(service.name):
                continue
            log = (self.log_dir / f"{service.name}.log").open("ab")
            env = self.env(service.name)
            command = [
                sys.executable,
                "-m",
                "uvicorn",
                service.app,
                "--factory",
                "--host",
                env["HOST"],
                "--port",
                env["PORT"],
                "--no-access-log",
                "--timeout-graceful-shutdown",
                "20",
            ]
            process = subprocess.Popen(
                command, env=self.service_env(service.name), cwd=ROOT, stdout=log, stderr=log, start_new_session=True
            )
            (self.run_dir / f"{service.name}.pid").write_text(str(process.pid))
            started.append((service, process))
        for service, process in started:
            self._wait_ready(service, process, timeout)

    def _wait_ready(self, service, process: subprocess.Popen, timeout: float) -> None:
        path = "/health" if service.env_prefix is None else "/ready"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = (self.log_dir / f"{service.name}.log").read_text(errors="replace").splitlines()[-5:]
                raise SystemExit(f"{service.name} exited with {process.returncode}:\n" + "\n".join(tail))
            try:
                if httpx.get(self.url(service.name) + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)  # readiness poll, bounded by the deadline
        raise SystemExit(f"{service.name} not ready after {timeout:.0f} s; see {self.log_dir}/{service.name}.log")

    def stop(self, timeout: float = 40) -> None:
        """SIGTERM to every service at once (each finishes its batch and drains its outbox), then
        wait for all; SIGKILL what is still there at the deadline."""
        pids = {s.name: pid for s in SERVICES if (pid := self.pid(s.name))}
        for pid in pids.values():
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(_alive(pid, None) for pid in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.1)  # waiting for graceful exits, bounded
        for name, pid in pids.items():
            if _alive(pid, None):
                os.kill(pid, signal.SIGKILL)
            (self.run_dir / f"{name}.pid").unlink(missing_ok=True)

    def status(self) -> dict:
        report = {}
        for service in SERVICES:
            if not self.env_file(service.name).exists():
                report[service.name] = {"process": "not initialised"}
                continue
            pid = self.pid(service.name)
            entry: dict = {"process": f"running, pid {pid}" if pid else "stopped"}
            if pid and service.env_prefix:
                try:
                    entry["ready"] = httpx.get(self.url(service.name) + "/ready", timeout=5).json()
                except httpx.HTTPError as exc:
                    entry["ready"] = f"unreachable: {exc}"
            report[service.name] = entry
        if self.env_file("intake").exists():
            report["schemas"] = asyncio.run(self.revisions())
            report["topics"] = asyncio.run(check_topics(self.bootstrap(), self.topics(), self.topic_settings())) or "ok"
        return report

    async def revisions(self) -> dict[str, str]:
        found = {}
        for service in SCHEMA_SERVICES:
            engine = make_engine(self.database_url(), self.schema(service), pool_size=1)
            try:
                current = await schema_revision(engine, self.schema(service))
            finally:
                await engine.dispose()
            found[service] = f"{current} (code: {head(service)})" + ("" if current == head(service) else " UPGRADE")
        return found

    # --- upgrade, backup, restore -------------------------------------------------------------

    async def upgrade(self) -> dict[str, tuple[str | None, str]]:
        problems = await ensure_topics(self.bootstrap(), self.topics(), settings=self.topic_settings())
        if problems:
            raise SystemExit("topics: " + "; ".join(problems))
        done = {}
        for service in SCHEMA_SERVICES:
            engine = make_engine(self.database_url(), self.schema(service), pool_size=1)
            try:
                done[service] = await upgrade_schema(engine, self.schema(service), service)
            finally:
                await engine.dispose()
        return done

    def backup(self, to: Path | None = None) -> Path:
        to = to or self.backups / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.dump"
        to.parent.mkdir(parents=True, exist_ok=True)
        schemas = [a for s in SCHEMA_SERVICES for a in ("--schema", self.schema(s))]
        subprocess.run(
            ["pg_dump", "--format=custom", "--no-owner", *schemas, "--file", str(to)],
            env=pg_env(self.database_url()),
            check=True,
        )
        return to

    def restore(self, source: Path) -> None:
        running = [s.name for s in SERVICES if s.env_prefix and self.pid(s.name)]
        if running:
            raise SystemExit(f"stop the services first ({', '.join(running)} running): python -m deploy stop")
        asyncio.run(self._drop_schemas())
        subprocess.run(
            [
                "pg_restore",
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                "--dbname",
                make_url(self.database_url()).database,
                str(source),
            ],
            env=pg_env(self.database_url()),
            check=True,
        )

    async def _drop_schemas(self) -> None:
        engine = make_engine(self.database_url(), "public", pool_size=1)
        try:
            async with engine.begin() as conn:
                for service in SCHEMA_SERVICES:
                    await conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema(service)}" CASCADE'))
        finally:
            await engine.dispose()


def pg_env(url: str) -> dict[str, str]:
    """libpq's environment for the database of a SQLAlchemy URL (pg_dump, pg_restore, psql)."""
    u = make_url(url)
    return dict(
        os.environ,
        PGHOST=u.host or "127.0.0.1",
        PGPORT=str(u.port or 5432),
        PGUSER=u.username or "",
        PGPASSWORD=u.password or "",
        PGDATABASE=u.database or "",
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m deploy", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["init", "start", "stop", "status", "upgrade", "backup", "restore"])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DEPLOY_DATA_DIR", DEFAULT_DATA)))
    parser.add_argument(
        "--env-dir",
        type=Path,
        default=os.environ.get("DEPLOY_ENV_DIR"),
        help="the env files (default DATA_DIR/env; /etc/dossier for the systemd units)",
    )
    parser.add_argument("--service", action="append", help="start only these (repeatable)")
    parser.add_argument("--to", type=Path, help="backup: the file to write")
    parser.add_argument("--from", dest="source", type=Path, help="restore: the backup file")
    args = parser.parse_args(argv)
    deployment = Deployment(args.data_dir, args.env_dir and Path(args.env_dir))
    if args.action == "init":
        for path in deployment.init():
            print("wrote", path)
    elif args.action == "start":
        deployment.start(args.service)
        print("running:", ", ".join(f"{s.name} {deployment.url(s.name)}" for s in SERVICES if deployment.pid(s.name)))
    elif args.action == "stop":
        deployment.stop()
        print("stopped")
    elif args.action == "status":
        report = deployment.status()
        print(json.dumps(report, indent=1, ensure_ascii=False))
        readiness = [v["ready"] for v in report.values() if isinstance(v, dict) and "ready" in v]
        healthy = all(isinstance(r, dict) and r["ready"] for r in readiness) and report.get("topics") == "ok"
        sys.exit(0 if healthy else 1)
    elif args.action == "upgrade":
        for service, (before, after) in asyncio.run(deployment.upgrade()).items():
            print(f"{service}: {before or 'empty'} -> {after}")
    elif args.action == "backup":
        started = time.monotonic()
        path = deployment.backup(args.to)
        print(f"backup {path} ({path.stat().st_size} bytes, {time.monotonic() - started:.1f} s)")
    else:
        if not args.source:
            parser.error("restore needs --from FILE")
        started = time.monotonic()
        deployment.restore(args.source)
        print(
            f"restored {args.source} in {time.monotonic() - started:.1f} s; start the services: python -m deploy start"
        )


if __name__ == "__main__":
    main()
