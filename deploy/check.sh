#!/usr/bin/env bash
# Static checks, run by CI before the tests (.ci/run): lint (ruff), the import boundaries
# (import-linter) and types (mypy on shared/ and services/). Configured in pyproject.toml.
# Runs all three, then fails if any failed. Seconds with warm caches (var/check/), ~30 s cold.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
LOG_TAG=check
cd "$ROOT"

bash deploy/install.sh --test || exit 1
bin="$ROOT/.venv/bin"
failed=()

log "ruff: lint"
"$bin/ruff" check --no-fix . || failed+=(ruff)
log "ruff: format"
"$bin/ruff" format --check . || failed+=(ruff-format)
log "import-linter: shared below services; services never import simulators or each other"
"$bin/lint-imports" || failed+=(import-linter)
log "mypy: shared/ (strict) and services/"
"$bin/mypy" || failed+=(mypy)

if (( ${#failed[@]} )); then
  log "FAILED: ${failed[*]}"
  exit 1
fi
log "all static checks passed"
