#!/usr/bin/env bash
# Installs what the project needs to run (and, with --test, to test): a Python virtualenv
# with the pinned requirements. Idempotent: reinstalls only when the requirement files change.
# Kafka's jars and PostgreSQL are installed by deploy/infra.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
LOG_TAG=install

requirements="$ROOT/requirements.txt"
[[ "${1:-}" == "--test" ]] && requirements="$ROOT/requirements-test.txt"
venv="$ROOT/.venv"

ensure_venv() {
  [[ -x "$venv/bin/python" ]] && return
  if ! python3 -m venv "$venv" 2>/dev/null; then
    log "python3 cannot create a virtualenv; installing Debian's python3-venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$venv" && python3 -m venv "$venv"
  fi
}

ensure_requirements() {
  local stamp="$venv/.installed-$(basename "$requirements")"
  local digest
  digest=$(cat "$ROOT"/requirements*.txt | sha256sum | cut -c1-16)
  [[ -f "$stamp" && "$(cat "$stamp")" == "$digest" ]] && return
  log "installing $(basename "$requirements") into .venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
  echo "$digest" > "$stamp"
}

# Browser tests use Debian's Chromium (playwright's own browser download cannot work here).
ensure_chromium() {
  [[ "$requirements" == *requirements-test.txt ]] || return 0
  [[ -x /usr/bin/chromium ]] && return
  log "installing Debian's chromium for the browser tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-core >/dev/null
}

# The systemd units' test runs `systemd-analyze verify` (tests/deploy/test_systemd.py).
ensure_systemd() {
  [[ "$requirements" == *requirements-test.txt ]] || return 0
  command -v systemd-analyze >/dev/null && return
  log "installing Debian's systemd for the unit files' check"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
}

ensure_venv
ensure_requirements
ensure_chromium
ensure_systemd
log "python environment ready (.venv)"
