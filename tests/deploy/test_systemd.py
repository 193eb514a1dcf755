"""The systemd units in deploy/systemd pass `systemd-analyze verify` (no error, no warning), run
the same app as deploy.launch, and read env files that set what the service needs."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from deploy.launch import ROOT, SERVICES

UNITS = ROOT / "deploy" / "systemd"
APPS = [s for s in SERVICES if s.env_prefix]


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze not installed (deploy/install.sh --test installs Debian's systemd)",
)
def test_units_verify_cleanly(tmp_path):
    # The units name /opt/dossier and /etc/dossier; here they point at this checkout and the examples.
    etc = tmp_path / "etc"
    etc.mkdir()
    for service in APPS:
        shutil.copy(UNITS / f"{service.name}.env.example", etc / f"{service.name}.env")
    units = []
    for unit in sorted(UNITS.glob("dossier*.*")):
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/opt/dossier", str(ROOT)).replace("/etc/dossier", str(etc)))
        units.append(str(copy))
    done = subprocess.run(
        ["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    # Unknown or misspelt settings are only warned about (and ignored): refuse those too.
    assert [line for line in done.stderr.splitlines() if str(tmp_path) in line or "dossier" in line] == []


@pytest.mark.parametrize("service", APPS, ids=lambda s: s.name)
def test_each_unit_runs_the_service_with_its_settings(service):
    unit = (UNITS / f"dossier-{service.name}.service").read_text()
    assert f"-m uvicorn {service.app} --factory" in unit
    assert f"EnvironmentFile=/etc/dossier/{service.name}.env" in unit
    env = dict(
        line.split("=", 1)
        for line in (UNITS / f"{service.name}.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    p = service.env_prefix
    assert {
        "PORT",
        "HOST",
        f"{p}_DATABASE_URL",
        f"{p}_KAFKA_BOOTSTRAP",
        f"{p}_DB_SCHEMA",
        "KAFKA_REPLICATION_FACTOR",
        "KAFKA_MIN_INSYNC_REPLICAS",
    } <= set(env)
    assert env["PORT"] == str(service.port)
    assert f"dossier-{service.name}.service" in (UNITS / "dossier.target").read_text()
