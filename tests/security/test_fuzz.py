"""Fuzz intake, processing and metrics with schemathesis against their own OpenAPI documents:
the services run as processes (the `stack` fixture) and no generated request may get a 5xx.

Valid credentials are sent with every request (the stack's simulator key, bound to every unit,
and its reader token), so the fuzzer reaches the handlers instead of stopping at 401. /ready is
left out: answering 503 while a dependency is down is its contract.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
ST = Path(sys.executable).with_name("st")
MAX_EXAMPLES = 30  # per operation and phase
TIME_LIMIT = 420  # seconds for all three services: a hung run fails instead of blocking CI


@pytest.fixture(autouse=True)
def unthrottled_intake(monkeypatch):
    """Started before the stack: a rate limit the fuzzer does not hit, so it reaches the handlers."""
    monkeypatch.setenv("INTAKE_RATE_LIMIT_PER_SECOND", "100000")
    monkeypatch.setenv("INTAKE_RATE_LIMIT_BURST", "100000")


def fuzz(base_url: str, headers: dict[str, str], report: Path, timeout: float) -> subprocess.CompletedProcess:
    command = [
        str(ST), "run", f"{base_url}/openapi.json",
        "--checks", "not_a_server_error",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", "766",  # reproducible: a failure here fails the same way on a laptop
        "--exclude-path", "/ready",
        "--generation-with-security-parameters", "false",
        "--generation-database", "none",
        "--request-timeout", "20",
        "--no-color",
        "--report", "junit", "--report-junit-path", str(report),
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=report.parent)


def test_no_generated_request_gets_a_server_error(stack, tmp_path):
    headers = {"X-API-Key": stack.api_key, "Authorization": f"Bearer {stack.reader_token}"}
    failures = {}
    for service in ("intake", "processing", "metrics"):
        run = fuzz(stack.url(service), headers, tmp_path / f"{service}.xml", TIME_LIMIT / 3)
        summary = run.stdout[-3000:]
        print(f"--- {service}\n{summary}")
        # A non-zero exit is a failed check (a 5xx) or an error; warnings (e.g. "operation
        # mostly answers 404") do not fail the run.
        if run.returncode != 0 or "Server error" in run.stdout:
            failures[service] = summary + run.stderr[-2000:]
    assert not failures, "\n".join(f"=== {s}\n{out}" for s, out in failures.items())
