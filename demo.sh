#!/usr/bin/env bash
# The product, on this machine: installs what is missing, starts Kafka, PostgreSQL, the portal
# simulator and the four services, plays a realistic demo load through them, prints the
# indicators and where to look. Every run starts from empty data (the demo's own Kafka and
# PostgreSQL under var/), so a run never depends on an older schema. `./demo.sh stop` stops it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source deploy/env.sh
LOG_TAG=demo
PY=.venv/bin/python

if [[ "${1:-}" == "stop" ]]; then
  [[ -x $PY ]] && $PY -m deploy.launch stop
  bash deploy/infra.sh down
  exit 0
fi

DOSSIERS="${DEMO_DOSSIERS:-4000}"   # over the last 60 days, ~6 events each
RATE="${DEMO_RATE:-3000}"           # events per second posted to intake

bash deploy/install.sh
[[ -x $PY ]] && $PY -m deploy.launch stop
bash deploy/infra.sh down
rm -rf "$VAR/kafka" "$VAR/pg" "$VAR/run"   # a fresh demo: empty broker and database
bash deploy/infra.sh up
$PY -m shared.topics --bootstrap "127.0.0.1:$KAFKA_PORT" --partitions 4
$PY -m deploy.launch start   # also provisions var/run/simulator.key and var/run/reader.token
log "posting $DOSSIERS dossiers from the counter-system simulator"
SIMULATOR_API_KEY="$(cat var/run/simulator.key)" $PY -m simulators.counter --intake http://127.0.0.1:8001 --dossiers "$DOSSIERS" --days 60 --rate "$RATE"
this_month=$(TZ=Asia/Ho_Chi_Minh date +%Y-%m)
last_month=$(TZ=Asia/Ho_Chi_Minh date -d "$(date +%Y-%m-15) -1 month" +%Y-%m)
$PY -m deploy.report --period "$last_month" --period "$this_month"

cat <<MSG
Where to look (everything keeps running; './demo.sh stop' stops it):
  Dashboard        http://127.0.0.1:8004/   (Vietnamese; per-dossier lists need the reader token below)
  Monthly report   http://127.0.0.1:8004/v1/report.xlsx?period=$last_month  (also report.csv)
  Indicators API   http://127.0.0.1:8004/v1/indicators?period=$this_month&unit=H44
  API docs         intake http://127.0.0.1:8001/docs · processing http://127.0.0.1:8002/docs
                   sync http://127.0.0.1:8003/docs · metrics http://127.0.0.1:8004/docs
  A dossier        curl -H "Authorization: Bearer \$(cat var/run/reader.token)" \\
                     http://127.0.0.1:8002/v1/dossiers/<mã hồ sơ>
  Credentials      var/run/simulator.key (intake X-API-Key for every unit; more with
                   .venv/bin/python -m services.intake.keys create --name ... --units ...),
                   var/run/reader.token (reader token for per-dossier routes),
                   var/run/operator.token (operator token for catalog changes, re-queues)
  Portal simulator http://127.0.0.1:8005/health
  Prometheus       http://127.0.0.1:800{1,2,3,4}/metrics
  Logs             var/run/*.log, var/kafka/kafka.log, var/pg/postgres.log
  More load        SIMULATOR_API_KEY=\$(cat var/run/simulator.key) .venv/bin/python -m simulators.counter --dossiers 10000 --rate 3000
MSG
