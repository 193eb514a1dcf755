#!/usr/bin/env bash
# Native single-node Kafka (KRaft, broker+controller in one JVM) for development
# and CI, on machines without Docker. The jars come from Maven Central through
# deploy/kafka/pom.xml, so nothing but Maven Central is needed.
#
#   deploy/kafka.sh install   fetch the jars into $CACHE (once; cached)
#   deploy/kafka.sh start     start the broker if not running, wait until it serves
#   deploy/kafka.sh stop      stop it (SIGTERM, then SIGKILL after 30 s)
#   deploy/kafka.sh status    exit 0 and print one line if it is running
set -euo pipefail

DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=deploy/env.sh
source "$DEPLOY/env.sh"
# shellcheck disable=SC2034  # read by log() in env.sh
LOG_TAG=kafka

LIBS="$CACHE/kafka-$KAFKA_VERSION/libs"
STAMP="$LIBS/.installed"
KDIR="$VAR/kafka"
DATA="$KDIR/data"
PROPS="$KDIR/server.properties"
PIDFILE="$KDIR/kafka.pid"
LOGFILE="$KDIR/kafka.log"
LOG4J="$DEPLOY/kafka/log4j2.properties"
START_TIMEOUT=60
STOP_TIMEOUT=30

# --- install -----------------------------------------------------------------

# The stamp holds a fingerprint of the pom and version, so editing the pom
# (e.g. adding a jar) refreshes the cache instead of silently reusing it.
install_fingerprint() {
  printf '%s %s\n' "$KAFKA_VERSION" "$(sha256sum <"$DEPLOY/kafka/pom.xml" | cut -c1-16)"
}

ensure_tool() {  # ensure_tool <command> <debian package>
  command -v "$1" >/dev/null && return
  [[ $EUID -eq 0 ]] || die "$1 is missing; install the Debian package $2"
  log "installing $2 (for $1)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

cmd_install() {
  local want; want="$(install_fingerprint)"
  if [[ -f "$STAMP" && "$(<"$STAMP")" == "$want" ]]; then
    log "jars for Kafka $KAFKA_VERSION already in $LIBS"
    return
  fi
  ensure_tool java openjdk-17-jre-headless
  ensure_tool mvn maven
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
  # Copy into a scratch dir and rename, so an interrupted download never
  # leaves a half-filled libs/ that looks installed.
  local tmp="$LIBS.tmp.$$"
  rm -rf "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  # Output is shown only on failure: Debian's Maven prints stray colour
  # escapes even with -q -B.
  local out
  out="$(mvn -B -q -ntp -f "$DEPLOY/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$tmp" 2>&1)" \
    || { printf '%s\n' "$out" >&2; die "maven could not fetch the Kafka jars"; }
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  trap - EXIT
  echo "$want" >"$STAMP"
  log "installed $(find "$LIBS" -name '*.jar' | wc -l) jars ($(du -sh "$LIBS" | cut -f1))"
}

# --- process helpers -----------------------------------------------------------

# True if the pid is a live (non-zombie) Kafka JVM; guards against pid reuse.
is_kafka_pid() {
  local pid=$1 state
  [[ -r "/proc/$pid/stat" ]] || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ "$state" != Z ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka '
}

# Prints the pid of our running broker, fails if there is none.
kafka_pid() {
  local pid
  if [[ -s "$PIDFILE" ]]; then
    pid="$(<"$PIDFILE")"
    if [[ "$pid" =~ ^[0-9]+$ ]] && is_kafka_pid "$pid"; then echo "$pid"; return; fi
  fi
  # Pid file lost (e.g. var/ deleted under a running broker): recognise our
  # broker by its config path, so stop still works and start does not clash.
  local props_re; props_re="$(printf '%s' "$PROPS" | sed 's/[][\\.*^$+?(){}|]/\\&/g')"
  pid="$(pgrep -o -f -- "kafka\\.Kafka $props_re\$")" && is_kafka_pid "$pid" && echo "$pid"
}

# A real protocol round trip: ApiVersions v0 must come back with error 0.
# The broker only accepts requests once startup has finished, so an open port
# alone is not enough.
api_ok() {
  python3 - "$KAFKA_PORT" <<'PY'
import socket, struct, sys
client = b"dossier-deploy-probe"
req = struct.pack(">hhih", 18, 0, 7, len(client)) + client  # ApiVersions v0
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
    s.settimeout(2)
    s.sendall(struct.pack(">i", len(req)) + req)
    def read(n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                sys.exit(1)
            buf += chunk
        return buf
    (size,) = struct.unpack(">i", read(4))
    corr, err, count = struct.unpack(">ihi", read(size)[:10])
    sys.exit(0 if corr == 7 and err == 0 and count > 0 else 1)
PY
}

# Log lines written since byte offset $1 announce a finished startup.
started_since() {
  tail -c +"$(($1 + 1))" "$LOGFILE" 2>/dev/null | grep -q 'Kafka Server started'
}

# Wait condition: ready, or dead (so a crash fails fast instead of after 60 s).
ready_or_dead() {  # ready_or_dead <pid> <log offset>
  ! is_kafka_pid "$1" || { started_since "$2" && api_ok; }
}

# --- start -------------------------------------------------------------------

write_properties() {
  mkdir -p "$KDIR" "$DATA"
  # Rewritten on every start so port/env overrides always take effect.
  cat >"$PROPS" <<EOF
# Generated by deploy/kafka.sh; edits are overwritten on the next start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA
auto.create.topics.enable=false
num.partitions=4
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
}

# Format the storage once; meta.properties marks a formatted log dir.
format_storage() {
  [[ -f "$DATA/meta.properties" ]] && return
  local cluster_id
  cluster_id="$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
  [[ -n "$cluster_id" ]] || die "StorageTool random-uuid printed nothing"
  log "formatting $DATA (cluster id $cluster_id)"
  # No --standalone: the quorum is given statically by controller.quorum.voters.
  java -Djava.awt.headless=true "-Dlog4j2.configurationFile=$LOG4J" \
    "-Dkafka.log.file=$LOGFILE" -cp "$LIBS/*" \
    kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS" >>"$LOGFILE" 2>&1 \
    || { tail -n 20 "$LOGFILE" >&2; die "storage format failed"; }
}

# Keep one previous log so a dev machine's log does not grow forever.
rotate_log() {
  if [[ -f "$LOGFILE" ]] && (( $(stat -c %s "$LOGFILE") > 50 * 1024 * 1024 )); then
    mv -f "$LOGFILE" "$LOGFILE.1"
  fi
}

launch() {
  rm -f "$PIDFILE"
  # setsid: own session, so the broker outlives the calling shell and its
  # terminal; the child writes its own pid before exec'ing the JVM, which is
  # exact whether or not setsid had to fork.
  # shellcheck disable=SC2016
  setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" \
    java "-Xms$KAFKA_HEAP" "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$LOG4J" "-Dkafka.log.file=$LOGFILE" \
    -cp "$LIBS/*" kafka.Kafka "$PROPS" \
    >>"$LOGFILE" 2>&1 </dev/null &
  WAIT_LOG="" wait_for "kafka pid file" 10 test -s "$PIDFILE" || die "broker did not launch"
}

cmd_start() {
  [[ -f "$STAMP" ]] || cmd_install
  local pid offset
  if pid="$(kafka_pid)"; then
    # Running already; if it is still starting up, wait for it rather than
    # launching a second broker on the same data.
    api_ok && { log "already running (pid $pid) on 127.0.0.1:$KAFKA_PORT"; return; }
    WAIT_LOG="$LOGFILE" wait_for "kafka (pid $pid) to serve" "$START_TIMEOUT" api_ok \
      || die "kafka pid $pid is alive but does not answer on port $KAFKA_PORT"
    log "running (pid $pid) on 127.0.0.1:$KAFKA_PORT"
    return
  fi
  for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    ! tcp_open "$port" || die "port $port is taken by a process this script did not start"
  done
  write_properties
  rotate_log
  offset="$(stat -c %s "$LOGFILE" 2>/dev/null || echo 0)"
  format_storage
  offset="$(stat -c %s "$LOGFILE" 2>/dev/null || echo "$offset")"
  launch
  pid="$(<"$PIDFILE")"
  WAIT_LOG="$LOGFILE" wait_for "kafka to serve on 127.0.0.1:$KAFKA_PORT" "$START_TIMEOUT" \
    ready_or_dead "$pid" "$offset" || die "kafka did not start within ${START_TIMEOUT}s"
  if ! is_kafka_pid "$pid"; then
    tail -n 40 "$LOGFILE" >&2
    rm -f "$PIDFILE"
    die "kafka exited during startup (log: $LOGFILE)"
  fi
  log "started (pid $pid) on 127.0.0.1:$KAFKA_PORT, log $LOGFILE"
}

# --- stop / status -------------------------------------------------------------

pid_gone() { ! is_kafka_pid "$1"; }

cmd_stop() {
  local pid
  if ! pid="$(kafka_pid)"; then
    rm -f "$PIDFILE"
    log "not running"
    return
  fi
  log "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  if ! WAIT_LOG="" wait_for "kafka pid $pid to exit" "$STOP_TIMEOUT" pid_gone "$pid"; then
    log "still alive after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    WAIT_LOG="" wait_for "kafka pid $pid to die" 10 pid_gone "$pid" || die "pid $pid survived SIGKILL"
  fi
  rm -f "$PIDFILE"
  log "stopped"
}

cmd_status() {
  local pid
  if ! pid="$(kafka_pid)"; then
    echo "kafka: stopped"
    return 3
  fi
  if api_ok; then
    echo "kafka: running, pid $pid, 127.0.0.1:$KAFKA_PORT, data $DATA"
  else
    echo "kafka: pid $pid alive but not answering on 127.0.0.1:$KAFKA_PORT"
    return 1
  fi
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 {install|start|stop|status}" >&2; exit 2 ;;
esac
