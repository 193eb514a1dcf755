#!/usr/bin/env bash
# The project's whole native infrastructure: Kafka and PostgreSQL.
#
#   deploy/infra.sh up       install what is missing, start both, wait until ready
#   deploy/infra.sh down     stop both
#   deploy/infra.sh status   one line each; exit 0 only if both are running
set -euo pipefail

DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"

up() {
  # Installs run one after the other (apt and maven both hit the network and
  # disk); the two starts are independent, so they overlap.
  bash "$DEPLOY/kafka.sh" install
  bash "$DEPLOY/postgres.sh" install
  bash "$DEPLOY/kafka.sh" start &
  local kafka_job=$!
  local pg_rc=0 kafka_rc=0
  bash "$DEPLOY/postgres.sh" start || pg_rc=$?
  wait "$kafka_job" || kafka_rc=$?
  (( pg_rc == 0 && kafka_rc == 0 )) || { echo "infra: up failed (kafka=$kafka_rc postgres=$pg_rc)" >&2; exit 1; }
}

# Stop both even if one of them fails to stop.
down() {
  local rc=0
  bash "$DEPLOY/kafka.sh" stop || rc=1
  bash "$DEPLOY/postgres.sh" stop || rc=1
  return "$rc"
}

status() {
  local rc=0
  bash "$DEPLOY/kafka.sh" status || rc=1
  bash "$DEPLOY/postgres.sh" status || rc=1
  return "$rc"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 {up|down|status}" >&2; exit 2 ;;
esac
