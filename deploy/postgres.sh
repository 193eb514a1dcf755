#!/usr/bin/env bash
# A private PostgreSQL cluster for development and CI, independent of the
# system's own cluster: its own data dir, port $PG_PORT, 127.0.0.1 only.
#
#   deploy/postgres.sh install   install Debian's postgresql if no initdb exists
#   deploy/postgres.sh start     init (once), start, create role and database
#   deploy/postgres.sh stop      fast shutdown (harmless when not running)
#   deploy/postgres.sh status    exit 0 and print one line if it is running
#   deploy/postgres.sh psql ...  psql as $PG_USER on $PG_DB (args passed on)
set -euo pipefail

DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=deploy/env.sh
source "$DEPLOY/env.sh"
# shellcheck disable=SC2034  # read by log() in env.sh
LOG_TAG=postgres

# Remembers where the cluster lives ($VAR/pg or the /var/tmp fallback), so
# stop and status look in the same place start chose.
LOCATION_FILE="$VAR/pg/location"
# Keyed by $VAR when it is not the default, so a second instance (another VAR, e.g. a test's
# private one) never shares, or removes as an orphan, the first instance's fallback cluster.
FALLBACK_KEY="$ROOT"
[[ "$VAR" == "$ROOT/var" ]] || FALLBACK_KEY="$VAR"
FALLBACK_BASE="/var/tmp/dossier-pg-$(printf '%s' "$FALLBACK_KEY" | sha256sum | cut -c1-10)"
START_TIMEOUT=60

# Newest installed server, e.g. /usr/lib/postgresql/15/bin.
pg_bindir() {
  local dirs
  dirs="$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1)" || return 1
  [[ -n "$dirs" ]] && dirname "$dirs"
}

# initdb and the server refuse to run as root, and sessions and CI run as
# root: then everything server-side runs as the `postgres` user. From / so
# that a cwd postgres cannot enter causes no warnings.
as_pg() {
  if [[ $EUID -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# --- install -----------------------------------------------------------------

cmd_install() {
  if pg_bindir >/dev/null; then
    log "PostgreSQL server present in $(pg_bindir)"
    return
  fi
  [[ $EUID -eq 0 ]] || die "no PostgreSQL server; run as root or: apt-get install postgresql"
  log "installing Debian's postgresql"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pg_bindir >/dev/null || die "postgresql installed but no initdb found"
}

# --- where the cluster lives -------------------------------------------------------

# The socket path must fit in sun_path (107 bytes) and postgres must be able
# to reach the directory: a clone under /root (mode 700) is not reachable.
base_usable() {
  local base=$1
  (( ${#base} + ${#PG_PORT} + 16 <= 107 )) || { log "$base is too long for a unix socket path"; return 1; }
  [[ $EUID -ne 0 ]] && return 0
  as_pg test -x "$(dirname "$base")" 2>/dev/null \
    || { log "user postgres cannot reach $(dirname "$base")"; return 1; }
}

# Prints the chosen base directory, deciding (and remembering) on first use.
choose_base() {
  if [[ -s "$LOCATION_FILE" ]]; then cat "$LOCATION_FILE"; return; fi
  mkdir -p "$VAR/pg"
  local base="$VAR/pg"
  if ! base_usable "$base"; then
    base="$FALLBACK_BASE"
    log "falling back to $base"
    drop_orphan "$base"
  fi
  echo "$base" >"$LOCATION_FILE"
  echo "$base"
}

# A fallback cluster with no location file pointing at it belonged to a $VAR
# that was deleted: `rm -rf var` must mean fresh state there too. A cluster
# that is still running is kept (its var was deleted under it).
drop_orphan() {
  local base=$1
  [[ -d "$base" ]] || return 0
  if [[ -f "$base/data/PG_VERSION" ]] \
    && as_pg "$PGBIN/pg_ctl" -D "$base/data" status >/dev/null 2>&1; then
    log "reusing the cluster still running in $base"
  else
    log "removing stale cluster $base"
    rm -rf "$base"
  fi
}

# Same, for stop/status: never creates anything.
known_base() {
  if [[ -s "$LOCATION_FILE" ]]; then cat "$LOCATION_FILE"; else echo "$VAR/pg"; fi
}

set_paths() {  # set_paths <base>
  BASE=$1
  DATA="$BASE/data"
  RUN="$BASE/run"
  PGLOG="$BASE/postgres.log"
}

is_running() {
  [[ -f "$DATA/PG_VERSION" ]] && as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

# --- start -------------------------------------------------------------------

prepare_dirs() {
  mkdir -p "$BASE" "$RUN"
  touch "$PGLOG"
  if [[ $EUID -eq 0 ]]; then chown postgres: "$RUN" "$PGLOG"; fi
  chmod 755 "$BASE"
}

# initdb into a scratch dir then rename: an interrupted initdb never leaves a
# half-made cluster behind that later starts would trust.
init_cluster() {
  [[ -f "$DATA/PG_VERSION" ]] && return
  local tmp="$BASE/data.init"
  log "creating cluster in $DATA"
  rm -rf "$tmp"
  mkdir -m 700 "$tmp"
  if [[ $EUID -eq 0 ]]; then chown postgres: "$tmp"; fi
  as_pg "$PGBIN/initdb" -D "$tmp" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >>"$PGLOG" 2>&1 \
    || { tail -n 20 "$PGLOG" >&2; die "initdb failed"; }
  mv "$tmp" "$DATA"
}

# Our settings live in their own file, rewritten on every start so that env
# overrides (port, paths) always apply; postgresql.conf only includes it.
write_config() {
  cat >"$DATA/dossier.conf" <<EOF
# Generated by deploy/postgres.sh; edits are overwritten on the next start.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$RUN'
max_connections = 200
shared_buffers = 512MB
# Write-heavy: every event is a few rows in several schemas. At the default 1 GB a bench run
# logged ~30 "checkpoints are occurring too frequently", and after each checkpoint the next write
# of every page logs the whole 8 kB page again. (No throughput change measured on this machine's
# disk; it keeps checkpoints to their schedule.)
max_wal_size = 8GB
checkpoint_timeout = 15min
# Processing takes one advisory lock per dossier in a batch (up to 5,000) and the overdue timer
# up to 500 more; the shared lock table holds max_locks_per_transaction x max_connections.
max_locks_per_transaction = 256
# The data fits in memory (or sits on SSD), so a random page costs about what a sequential one
# does. At the default 4.0 the planner read every row of a young facts table (30,000 rows,
# ~7 ms) to find the 200 dossiers of a batch, several times a batch: a quarter of the
# database's time in the bench went there. 1.1 is the usual setting for SSD; it picks the index.
random_page_cost = 1.1
# Whole records (sync's backlog and state: the portal's record, several kB of JSON) are
# compressed when stored. lz4 costs a fraction of the default pglz: sync's share of the
# database's CPU in the bench fell 3.7 -> 2.8 core-seconds. Values already stored keep theirs.
default_toast_compression = lz4
EOF
  grep -q "^include_if_exists = 'dossier.conf'" "$DATA/postgresql.conf" \
    || echo "include_if_exists = 'dossier.conf'" >>"$DATA/postgresql.conf"
  cat >"$DATA/pg_hba.conf" <<EOF
# Generated by deploy/postgres.sh.
# TYPE  DATABASE USER     ADDRESS        METHOD
local   all      postgres                trust
host    all      all      127.0.0.1/32   scram-sha-256
EOF
  if [[ $EUID -eq 0 ]]; then chown postgres: "$DATA/dossier.conf" "$DATA/pg_hba.conf"; fi
}

# The app's real way in: TCP, password, its own database.
app_login_ok() {
  PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=2 "$PGBIN/psql" -X -q -At -w \
    -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -c 'select 1' >/dev/null 2>&1
}

# Create the role and database if missing; also resets the password so a
# changed $PG_PASSWORD takes effect.
provision() {
  app_login_ok && return
  log "creating role $PG_USER and database $PG_DB"
  as_pg "$PGBIN/psql" -X -q -h "$RUN" -p "$PG_PORT" -U postgres -d postgres \
    -v ON_ERROR_STOP=1 -v user="$PG_USER" -v pw="$PG_PASSWORD" -v db="$PG_DB" <<'SQL'
SELECT format('CREATE ROLE %I', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" WITH LOGIN CREATEDB PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
}

cmd_start() {
  PGBIN="$(pg_bindir)" || cmd_install
  PGBIN="$(pg_bindir)"
  set_paths "$(choose_base)"
  if is_running; then
    log "already running on 127.0.0.1:$PG_PORT (data $DATA)"
  else
    log "data directory $DATA"
    prepare_dirs
    init_cluster
    write_config
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$PGLOG" -w -t "$START_TIMEOUT" start >/dev/null \
      || { tail -n 30 "$PGLOG" >&2; die "pg_ctl start failed (log: $PGLOG)"; }
  fi
  provision
  WAIT_LOG="$PGLOG" wait_for "postgres to accept $PG_USER@127.0.0.1:$PG_PORT/$PG_DB" \
    "$START_TIMEOUT" app_login_ok || die "cannot log in as $PG_USER"
  log "ready: postgresql://$PG_USER@127.0.0.1:$PG_PORT/$PG_DB (log $PGLOG)"
}

# --- stop / status / psql --------------------------------------------------------

cmd_stop() {
  PGBIN="$(pg_bindir)" || { log "not installed"; return; }
  set_paths "$(known_base)"
  if ! is_running; then log "not running"; return; fi
  as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
  log "stopped"
}

cmd_status() {
  PGBIN="$(pg_bindir)" || { echo "postgres: not installed"; return 3; }
  set_paths "$(known_base)"
  if ! is_running; then echo "postgres: stopped"; return 3; fi
  local pid; pid="$(head -n 1 "$DATA/postmaster.pid")"
  if "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
    echo "postgres: running, pid $pid, 127.0.0.1:$PG_PORT, data $DATA"
  else
    echo "postgres: pid $pid alive but not accepting connections on 127.0.0.1:$PG_PORT"
    return 1
  fi
}

cmd_psql() {
  PGBIN="$(pg_bindir)" || die "not installed"
  PGPASSWORD="$PG_PASSWORD" exec "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" \
    -U "$PG_USER" -d "$PG_DB" "$@"
}

cmd="${1:-}"
shift || true
case "$cmd" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  psql) cmd_psql "$@" ;;
  *) echo "usage: $0 {install|start|stop|status|psql [args]}" >&2; exit 2 ;;
esac
