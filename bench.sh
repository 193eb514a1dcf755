#!/usr/bin/env bash
# The benchmark suite (issue 6): installs what is missing, starts Kafka and PostgreSQL, then runs
# bench/ (its own topics, schemas and free ports; everything it creates is removed at the end).
# Prints one table of figures, baselines measured in the same run, ratios and the issue's targets;
# writes var/bench/results.json. `./bench.sh --quick` takes about a minute.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source deploy/env.sh
LOG_TAG=bench

bash deploy/install.sh --test
bash deploy/infra.sh up
export BENCH_KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
export BENCH_DATABASE_URL="postgresql+asyncpg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
exec .venv/bin/python -m bench "$@"
