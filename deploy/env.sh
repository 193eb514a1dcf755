# shellcheck shell=bash
# Shared settings and helpers for the deploy/ scripts. Source it; don't run it.
# Every value can be overridden from the environment, so a second instance
# (other ports, other checkout) can run beside the first one.

# The repo root is derived from this file's location so the scripts work from
# any working directory and in any clone.
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)}"
VAR="${VAR:-$ROOT/var}"          # runtime data, logs, pids (gitignored)
CACHE="${CACHE:-$ROOT/.cache}"   # downloaded jars (gitignored)

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_HEAP="${KAFKA_HEAP:-1g}"

PG_PORT="${PG_PORT:-55432}"
PG_USER="${PG_USER:-dossier}"
PG_PASSWORD="${PG_PASSWORD:-dossier}"
PG_DB="${PG_DB:-dossier}"

export ROOT VAR CACHE KAFKA_VERSION KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_HEAP \
  PG_PORT PG_USER PG_PASSWORD PG_DB

log() { printf '[%s] %s\n' "${LOG_TAG:-deploy}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Monotonic-enough wall clock in milliseconds (bash 5 has EPOCHREALTIME, no fork).
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

# wait_for <description> <timeout-seconds> <command...>
# Polls the command every 0.2 s until it succeeds. On timeout prints the tail
# of $WAIT_LOG (set it to the log of whatever is being waited for) and fails.
# Polling instead of fixed sleeps keeps warm starts fast and slow machines safe.
wait_for() {
  local what=$1 timeout=$2; shift 2
  local deadline=$(( $(now_ms) + timeout * 1000 ))
  until "$@" >/dev/null 2>&1; do
    if (( $(now_ms) >= deadline )); then
      log "timed out after ${timeout}s waiting for $what"
      if [[ -n "${WAIT_LOG:-}" && -f "$WAIT_LOG" ]]; then
        log "last lines of $WAIT_LOG:"
        tail -n 40 "$WAIT_LOG" >&2
      fi
      return 1
    fi
    sleep 0.2
  done
}

# tcp_open <port>: true if something accepts connections on 127.0.0.1:<port>.
tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
