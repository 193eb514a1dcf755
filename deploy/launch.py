"""Start and stop the services as separate processes (used by the demo and the end-to-end tests).

python -m deploy.launch start   # every service, detached; pids and logs under var/run
python -m deploy.launch stop
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.sync.documents.signing import provision

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Service:
    name: str
    app: str  # uvicorn factory
    env_prefix: str | None  # None: needs no database or broker settings
    port: int


SERVICES = [
    Service("portal-simulator", "simulators.portal.app:create_app", None, 8005),
    Service("docsys-simulator", "simulators.docsys.app:create_app", None, 8006),
    Service("intake", "services.intake.app:create_app", "INTAKE", 8001),
    Service("processing", "services.processing.app:create_app", "PROCESSING", 8002),
    Service("sync", "services.sync.app:create_app", "SYNC", 8003),
    Service("metrics", "services.metrics.app:create_app", "METRICS", 8004),
]
# Ports for stacks started on free ports (tests, bench): below the kernel's ephemeral range
# (Linux: 32768-60999), so that no outgoing connection can take a port between the check and the
# service's bind, as happened with ports the kernel picked; clear of the infrastructure's 19092-19093.
FREE_PORTS = range(20000, 32768)
_handed_out: set[int] = set()


def free_port() -> int:
    """A port on 127.0.0.1 that is free now and not handed out before by this process."""
    for _ in range(1000):
        port = random.choice(FREE_PORTS)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {FREE_PORTS.start}-{FREE_PORTS.stop - 1}")


PORTAL_USER, PORTAL_PASSWORD = "motcua-h44", "demo-only"  # the simulator's built-in demo account
# The counter-system simulator's API key: bound to the province root, it posts for every unit.
SIMULATOR_KEY_NAME, SIMULATOR_KEY_UNITS = "simulator", "H44"
# A reader token bound to one unit, to show (and test) that it reads that unit's dossiers only.
UNIT_READER_NAME, UNIT_READER_UNITS = "demo-h44-100", "H44.100"
READER_SERVICES = ("intake", "processing", "sync", "metrics")  # serve per-dossier data to readers


@dataclass
class Stack:
    """The five processes, configured for one database, one broker and one topic prefix."""

    run_dir: Path
    database_url: str = "postgresql+asyncpg://dossier:dossier@127.0.0.1:55432/dossier"
    kafka_bootstrap: str = "127.0.0.1:19092"
    topic_prefix: str = ""
    schema_prefix: str = ""
    ports: dict[str, int] = field(default_factory=lambda: {s.name: s.port for s in SERVICES})
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    # Credentials this stack provisions: a reader token (its digest goes to the services) and,
    # once intake is up, the simulator's API key. Both are also written to run_dir (mode 0600).
    reader_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    operator_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    # sync's credential for the applicant's clear identity at intake (services/intake/internal.py)
    identity_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    api_key: str | None = None
    unit_reader_token: str | None = None  # bound to UNIT_READER_UNITS (python -m shared.auth)
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)  # per service, e.g. for tests
    docsys: bool = False  # connect sync to the document-management simulator (the demo does)
    # Instances of each service (not of the simulators): the second of intake is "intake.2", with
    # its own port (ports must name it). Instances share the schema, the consumer group and the
    # outbox; see docs/cluster.md for what keeps each once-only effect once.
    replicas: int = 1

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def instances(self, service: str) -> list[str]:
        """The instance names of one service ("intake", "intake.2", …)."""
        count = 1 if service.endswith("-simulator") else self.replicas
        return [service] + [f"{service}.{i}" for i in range(2, count + 1)]

    def all_instances(self) -> list[str]:
        return [name for s in SERVICES for name in self.instances(s.name)]

    def env(self, service: Service) -> dict[str, str]:
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        if service.env_prefix:
            p = service.env_prefix
            env |= {
                f"{p}_DATABASE_URL": self.database_url,
                f"{p}_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
                f"{p}_TOPIC_PREFIX": self.topic_prefix,
                f"{p}_DB_SCHEMA": f"{self.schema_prefix}{service.name}",
            }
        if service.name == "intake" and "INTAKE_APPLICANT_ID_KEY" not in env:
            env["INTAKE_APPLICANT_ID_KEY"] = self._secret_file("applicant-id.key")
        if service.name == "intake":
            if "INTAKE_IDENTITY_KEYS_FILE" not in env:
                self._secret_file("applicant-identity.keys", None, f"k1 {secrets.token_hex(32)}")
                env["INTAKE_IDENTITY_KEYS_FILE"] = str(self.run_dir / "applicant-identity.keys")
            env["INTAKE_SERVICE_TOKENS_SHA256"] = f"sync={hashlib.sha256(self.identity_token.encode()).hexdigest()}"
        if service.name in READER_SERVICES:
            digest = hashlib.sha256(self.reader_token.encode()).hexdigest()
            env["READER_TOKEN_SHA256"] = ",".join(filter(None, [env.get("READER_TOKEN_SHA256"), digest]))
            operator = hashlib.sha256(self.operator_token.encode()).hexdigest()
            env["READER_OPERATOR_TOKEN_SHA256"] = ",".join(
                filter(None, [env.get("READER_OPERATOR_TOKEN_SHA256"), operator])
            )
            # Unit-bound reader tokens: in this stack's own schema, in its database.
            env |= {"READER_DB_SCHEMA": f"{self.schema_prefix}readers", "READER_DATABASE_URL": self.database_url}
        if service.name == "metrics":  # the dossier drill-down reads processing
            env["METRICS_PROCESSING_URL"] = self.url("processing")
        if self.docsys and service.name in ("sync", "docsys-simulator"):
            env |= self._signing_env(service.name)
        env |= self.extra_env.get(service.name, {})
        if service.name == "sync":
            env |= {
                "SYNC_PORTAL_URL": self.url("portal-simulator"),
                "SYNC_PORTAL_USERNAME": PORTAL_USER,
                "SYNC_PORTAL_PASSWORD": PORTAL_PASSWORD,
            }
            if "intake" in self.ports:  # the applicant's identity for the portal's record
                env |= {"SYNC_INTAKE_URL": self.url("intake"), "SYNC_INTAKE_TOKEN": self.identity_token}
            if self.docsys:
                env["SYNC_DOCSYS_URL"] = self.url("docsys-simulator")
        return env

    def _signing_env(self, name: str) -> dict[str, str]:
        """edXML signatures on in the demo and the end-to-end tests: a throwaway authority and a key
        and certificate for sync and for the document-system simulator, made at run time in
        run_dir/pki (never committed); each trusts the authority, so each verifies the other."""
        pki = provision(self.run_dir / "pki")
        if name == "sync":
            return {
                "SYNC_DOCSYS_SIGNING_KEY": str(pki["province_key"]),
                "SYNC_DOCSYS_SIGNING_CERT": str(pki["province_cert"]),
                "SYNC_DOCSYS_TRUST_STORE": str(pki["trust_store"]),
            }
        return {
            "DOCSYS_SIM_SIGNING_KEY": str(pki["docsys_key"]),
            "DOCSYS_SIM_SIGNING_CERT": str(pki["docsys_cert"]),
            "DOCSYS_SIM_TRUST_STORE": str(pki["trust_store"]),
        }

    def _secret_file(self, name: str, value: str | None = None, first: str | None = None) -> str:
        """A secret kept in run_dir, readable by its owner only; created once (from `first`, else
        random) unless given."""
        path = self.run_dir / name
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if value is not None or not path.exists():
            path.touch(mode=0o600)
            path.write_text(value if value is not None else first or secrets.token_hex(32))
        return path.read_text().strip()

    def provision_keys(self) -> None:
        """The simulator's API key (created, or rotated if it exists) and the reader token, in
        run_dir; the key is also exported as SIMULATOR_API_KEY so that simulators.counter.post,
        called in this process (tests, bench), posts with it."""
        intake = next(s for s in SERVICES if s.name == "intake")
        command = [
            sys.executable,
            "-m",
            "services.intake.keys",
            "create",
            "--or-rotate",
            "--name",
            SIMULATOR_KEY_NAME,
            "--units",
            SIMULATOR_KEY_UNITS,
        ]
        done = subprocess.run(command, env=self.env(intake), cwd=ROOT, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"could not create the simulator's API key: {done.stderr.strip()}")
        self.api_key = self._secret_file("simulator.key", done.stdout.strip())
        processing = next(s for s in SERVICES if s.name == "processing")
        command = [
            sys.executable,
            "-m",
            "shared.auth",
            "create",
            "--or-rotate",
            "--name",
            UNIT_READER_NAME,
            "--units",
            UNIT_READER_UNITS,
        ]
        done = subprocess.run(command, env=self.env(processing), cwd=ROOT, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"could not create the unit reader token: {done.stderr.strip()}")
        self.unit_reader_token = self._secret_file(f"reader-{UNIT_READER_UNITS}.token", done.stdout.strip())
        self._secret_file("reader.token", self.reader_token)
        self._secret_file("operator.token", self.operator_token)
        os.environ["SIMULATOR_API_KEY"] = self.api_key

    def start(self, name: str) -> None:
        service = next(s for s in SERVICES if s.name == name.split(".")[0])
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log = (self.run_dir / f"{name}.log").open("ab")
        command = uvicorn_command(service.app, self.ports[name])
        process = subprocess.Popen(
            command, env=self.env(service), cwd=ROOT, stdout=log, stderr=log, start_new_session=True
        )
        self.processes[name] = process
        (self.run_dir / f"{name}.pid").write_text(str(process.pid))

    def wait_ready(self, name: str, timeout: float = 60) -> None:
        path = "/health" if name.endswith("-simulator") else "/ready"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes.get(name)
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {self.run_dir}/{name}.log")
            try:
                if httpx.get(self.url(name) + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)  # polling interval while waiting for readiness, bounded by the deadline
        raise TimeoutError(f"{name} not ready after {timeout:.0f} s; see {self.run_dir}/{name}.log")

    def start_all(self) -> None:
        for name in self.all_instances():
            self.start(name)
        for name in self.all_instances():
            self.wait_ready(name)
        self.provision_keys()

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        pid_file = self.run_dir / f"{name}.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pid_file.unlink(missing_ok=True)
            return
        deadline = time.monotonic() + timeout
        while _alive(pid, self.processes.get(name)) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid, self.processes.get(name)):
            os.kill(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)
        self.processes.pop(name, None)

    def stop_all(self) -> None:
        for name in reversed(self.all_instances()):
            self.stop(name)


def uvicorn_command(app: str, port: int, host: str = "127.0.0.1") -> list[str]:
    """How a service is started. Forwarded headers (X-Forwarded-For) are trusted only from the
    proxies listed in TRUSTED_PROXIES (comma-separated addresses; empty by default): uvicorn
    would otherwise trust them from 127.0.0.1, and anyone on the machine could pick the address
    the per-address rate limits see by rotating the header."""
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--factory",
        "--host",
        host,
        "--port",
        str(port),
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "20",
    ]
    proxies = os.environ.get("TRUSTED_PROXIES", "").strip()
    return command + (["--proxy-headers", f"--forwarded-allow-ips={proxies}"] if proxies else ["--no-proxy-headers"])


def _alive(pid: int, process: subprocess.Popen | None) -> bool:
    if process is not None:
        return process.poll() is None  # reaps our own child
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--run-dir", type=Path, default=ROOT / "var" / "run")
    args = parser.parse_args()
    stack = Stack(args.run_dir, docsys=True)
    if args.action == "start":
        stack.stop_all()  # idempotent: a second start replaces the running processes
        stack.start_all()
        print("services ready:", ", ".join(f"{s.name} {stack.url(s.name)}" for s in SERVICES))
        print(
            f"credentials in {args.run_dir}: simulator.key (X-API-Key, all units), "
            "reader.token (Authorization: Bearer, per-dossier routes, all units), "
            f"reader-{UNIT_READER_UNITS}.token (the same for {UNIT_READER_UNITS} only), "
            "operator.token (changes)"
        )
        print(f"edXML signing on: throwaway demo certificates and trust store in {args.run_dir / 'pki'}")
    else:
        stack.stop_all()


if __name__ == "__main__":
    main()
