"""The style checks deploy/check.sh runs (ruff's lint and format, with the project's settings)
pass on the tree and fail on a module that breaks them; the breach is written into a copy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).with_name("ruff")


def ruff(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RUFF), *args, "--no-cache", "."], cwd=tree, capture_output=True, text=True, timeout=120)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "shared", tmp_path / "shared", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_tree_passes(tree: Path):
    assert ruff(tree, "check").returncode == 0
    assert ruff(tree, "format", "--check").returncode == 0


def test_an_unsorted_import_and_an_unused_name_fail_the_lint(tree: Path):
    (tree / "shared" / "breach.py").write_text("import sys\nimport os\n\nx = os.sep\n")
    result = ruff(tree, "check")
    assert result.returncode != 0
    assert "I001" in result.stdout and "F401" in result.stdout


def test_a_module_the_formatter_would_change_fails(tree: Path):
    (tree / "shared" / "breach.py").write_text("x = { 'a':1 }\n")
    result = ruff(tree, "format", "--check")
    assert result.returncode != 0
    assert "breach.py" in result.stdout + result.stderr
