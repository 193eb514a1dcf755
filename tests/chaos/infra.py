"""A private Kafka broker and PostgreSQL cluster for one chaos run, through the deploy scripts.

Other ports and another VAR than the shared instance (127.0.0.1:19092, :55432), so stopping and
restarting them never disturbs anyone else's tests. down() stops both and removes their data.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@dataclass
class PrivateInfra:
    var: Path
    kafka_port: int
    controller_port: int
    pg_port: int
    kafka_heap: str = "512m"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def database_url(self) -> str:
        return f"postgresql+asyncpg://dossier:dossier@127.0.0.1:{self.pg_port}/dossier"

    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            ROOT=str(ROOT),
            VAR=str(self.var),
            KAFKA_PORT=str(self.kafka_port),
            KAFKA_CONTROLLER_PORT=str(self.controller_port),
            PG_PORT=str(self.pg_port),
            KAFKA_HEAP=self.kafka_heap,
            PG_USER="dossier",
            PG_PASSWORD="dossier",
            PG_DB="dossier",
        )

    def run(self, script: str, action: str, timeout: float = 120) -> None:
        done = subprocess.run(
            ["bash", str(DEPLOY / script), action],
            env=self.env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{script} {action} failed ({done.returncode}): {done.stderr[-2000:]}")

    def up(self) -> None:
        """Both at once (they are independent); fails if either fails."""
        self.var.mkdir(parents=True, exist_ok=True)
        procs = {
            s: subprocess.Popen(
                ["bash", str(DEPLOY / s), "start"],
                env=self.env(),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for s in ("kafka.sh", "postgres.sh")
        }
        failed = []
        for script, proc in procs.items():
            out, _ = proc.communicate(timeout=180)
            if proc.returncode != 0:
                failed.append(f"{script}: {out[-2000:]}")
        if failed:
            raise RuntimeError("private infrastructure did not start: " + "\n".join(failed))

    def crash(self, script: str) -> None:
        """SIGKILL the broker, or PostgreSQL's postmaster and all its processes (a machine's
        crash: nothing is flushed or shut down); start it again with run(script, "start")."""
        if script == "kafka.sh":
            pids = [int((self.var / "kafka" / "kafka.pid").read_text())]
        else:
            location = self.var / "pg" / "location"
            base = Path(location.read_text().strip()) if location.exists() else self.var / "pg"
            postmaster = int((base / "data" / "postmaster.pid").read_text().splitlines()[0])
            children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout
            pids = [postmaster, *map(int, children.split())]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # Until reaped, not only dead: pg_ctl takes a zombie postmaster for a running server (this
        # machine's init reaps orphans about a second or two after they die).
        deadline = time.monotonic() + 30
        while any(Path(f"/proc/{pid}").exists() for pid in pids):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{script}: processes {pids} survived SIGKILL")
            time.sleep(0.05)

    def down(self) -> None:
        """Stop both (each even if the other fails) and remove their data, wherever it lives."""
        location = self.var / "pg" / "location"
        base = Path(location.read_text().strip()) if location.exists() else None
        for script in ("kafka.sh", "postgres.sh"):
            try:
                self.run(script, "stop", timeout=90)
            except Exception as exc:  # keep tearing down; report at the end of the run's log
                print(f"teardown: {exc}")
        if base is not None and base.name.startswith("dossier-pg-") and not base.is_relative_to(self.var):
            shutil.rmtree(base, ignore_errors=True)  # postgres.sh's /var/tmp fallback
        shutil.rmtree(self.var, ignore_errors=True)
