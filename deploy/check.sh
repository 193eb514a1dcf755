#!/usr/bin/env bash
# Static checks, run by CI before the tests (.ci/run): lint (ruff), types (mypy on shared/ and
# services/) and the import boundaries (import-linter). Configured in pyproject.toml; fails on
# the first violation. A few seconds with warm caches (var/check/), under a minute cold.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
LOG_TAG=check
cd "$ROOT"

bash deploy/install.sh --test
bin="$ROOT/.venv/bin"

log "ruff: lint"
"$bin/ruff" check --no-fix .
log "import-linter: boundaries between shared, services and simulators"
"$bin/lint-imports"
log "mypy: shared/ (strict) and services/"
"$bin/mypy"
log "all static checks passed"
