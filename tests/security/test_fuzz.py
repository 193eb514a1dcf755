"""Fuzz every service's API (intake, processing, sync, metrics) with schemathesis against its own
OpenAPI document: the services run as processes, no generated request may get a 5xx, and every
answer with a declared schema must match it.

- Credentials come with every request, so the fuzzer reaches the handlers instead of stopping at
  401: intake's counter key (bound to every unit), sync's document-system push credential, and
  one bearer token that is both a province-wide reader and an operator.
- Intake's bodies are typed in its document (one schema per event type and version, with `type`
  and `version` as constants: services/intake/schema.py), so generated events reach the validators.
- The seed changes every run and is printed; FUZZ_SEED=<seed> replays a run.
- Bounded: FUZZ_MAX_EXAMPLES per operation and phase (default 20), and a time limit per service.
  /ready is left out: answering 503 while a dependency is down is its contract.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.launch import SERVICES, Stack, free_port
from tests.conftest import DATABASE_URL, KAFKA

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
ST = Path(sys.executable).with_name("st")
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "20"))
TIME_LIMIT = 150  # seconds per service: a hung run fails instead of blocking CI
FUZZED = ("intake", "processing", "sync", "metrics")


@pytest.fixture
def stack(tmp_path, topics, schemas, monkeypatch):
    """The stack, its limits out of the fuzzer's way, and one token that reads and operates."""
    monkeypatch.setenv("INTAKE_RATE_LIMIT_PER_SECOND", "100000")
    monkeypatch.setenv("INTAKE_RATE_LIMIT_BURST", "100000")
    monkeypatch.setenv("READER_PUBLIC_RATE_PER_SECOND", "100000")
    monkeypatch.setenv("READER_PUBLIC_BURST", "100000")
    running = Stack(
        run_dir=tmp_path / "run",
        database_url=DATABASE_URL,
        kafka_bootstrap=KAFKA,
        topic_prefix=topics.prefix,
        schema_prefix=schemas,
        ports={s.name: free_port() for s in SERVICES},
    )
    monkeypatch.setenv("READER_TOKEN_SHA256", hashlib.sha256(running.operator_token.encode()).hexdigest())
    try:
        running.start_all()
        yield running
    finally:
        running.stop_all()


def push_credential(stack: Stack) -> str:
    sync = next(s for s in SERVICES if s.name == "sync")
    done = subprocess.run(
        [sys.executable, "-m", "services.sync.documents.push", "create", "--name", "fuzz", "--organs", "H44"],
        env=stack.env(sync),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def fuzz(base_url: str, headers: dict[str, str], seed: int, report: Path) -> subprocess.CompletedProcess:
    command = [
        str(ST),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(seed),
        "--exclude-path",
        "/ready",
        "--generation-with-security-parameters",
        "false",
        "--generation-database",
        "none",
        "--request-timeout",
        "20",
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIME_LIMIT, cwd=report.parent)


def test_no_generated_request_gets_a_server_error_or_an_undeclared_answer(stack, tmp_path):
    seed = int(os.environ.get("FUZZ_SEED") or random.SystemRandom().randrange(2**31))
    print(f"schemathesis seed {seed} (replay: FUZZ_SEED={seed})")
    bearer = {"Authorization": f"Bearer {stack.operator_token}"}
    headers = {"intake": {"X-API-Key": stack.api_key}, "sync": {"X-API-Key": push_credential(stack)}}
    failures = {}
    for service in FUZZED:
        run = fuzz(stack.url(service), bearer | headers.get(service, {}), seed, tmp_path / f"{service}.xml")
        summary = run.stdout[-3000:]
        print(f"--- {service}\n{summary}")
        # A non-zero exit is a failed check or an error; warnings (e.g. "operation mostly
        # answers 404") do not fail the run.
        if run.returncode != 0:
            failures[service] = summary + run.stderr[-2000:]
    assert not failures, f"seed {seed} (FUZZ_SEED={seed} replays it)\n" + "\n".join(
        f"=== {s}\n{out}" for s, out in failures.items()
    )
