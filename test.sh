#!/usr/bin/env bash
# The whole test suite: installs what is missing, starts Kafka and PostgreSQL (the tests start
# the services themselves, with their own topics and schemas), runs pytest. Idempotent.
# Extra arguments go to pytest, e.g. ./test.sh -m "not e2e".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source deploy/env.sh
LOG_TAG=test

bash deploy/install.sh --test
bash deploy/infra.sh up
export TEST_KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
export TEST_DATABASE_URL="postgresql+asyncpg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
exec .venv/bin/python -m pytest "$@"
