"""The import rules (pyproject.toml, [tool.importlinter]) hold on the tree and catch a breach.

Each breach is written into a copy of the packages, so the real tree is never touched; the
same `lint-imports` that deploy/check.sh runs must then fail, naming the contract and the import.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree)},
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for package in ("shared", "services", "simulators"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_tree_keeps_the_rules(tree: Path):
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "line", "contract", "named"),
    [
        (
            "services/metrics/leak.py",
            "from simulators.portal import rules",
            "services never import the test doubles of external systems",
            "services.metrics.leak -> simulators.portal.rules",
        ),
        (
            "services/sync/leak.py",
            "import simulators.counter.generator",
            "services never import the test doubles of external systems",
            "services.sync.leak -> simulators.counter.generator",
        ),
        (
            "services/metrics/leak.py",
            "from services.processing import workcalendar",
            "services talk over Kafka and HTTP, never by importing each other",
            "services.metrics.leak -> services.processing.workcalendar",
        ),
        (
            "shared/leak.py",
            "from services.intake import config",
            "shared never imports the services or the simulators",
            "shared.leak -> services.intake.config",
        ),
    ],
)
def test_a_breach_fails_the_check(tree: Path, module: str, line: str, contract: str, named: str):
    (tree / module).write_text(f'"""A deliberate breach."""\n\n{line}\n')
    result = lint_imports(tree)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken and named in broken, result.stdout
