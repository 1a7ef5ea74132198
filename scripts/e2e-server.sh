#!/usr/bin/env bash
# Starts and stops the Veritrail server the browser tests run against, from a state directory
# that scripts/browser-test.sh prepares (the `env` file there names the binary, the data
# directory, the database URL, the address and the secrets). The tests call it too, to restart
# the server on the same data while a page stays open.
#
# Usage: scripts/e2e-server.sh prepare STATE_DIR BIN DATABASE_URL DASHBOARD_DIR
#          (writes STATE_DIR/env: a data directory, a free port, a random admin key and password;
#           DATABASE_URL empty = SQLite in the data directory)
#        scripts/e2e-server.sh start|stop|restart STATE_DIR
#        scripts/e2e-server.sh ingest STATE_DIR FILE.jsonl   (server must be stopped on SQLite)
set -euo pipefail

die() { echo "e2e-server.sh: ERROR: $*" >&2; exit 1; }
[[ $# -ge 2 ]] || die "usage: $0 prepare|start|stop|restart|ingest STATE_DIR [...]"
cmd=$1
state=$2

if [[ $cmd == prepare ]]; then
  [[ $# -eq 5 ]] || die "usage: $0 prepare STATE_DIR BIN DATABASE_URL DASHBOARD_DIR"
  random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
  port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  mkdir -p "$state/data"
  {
    printf 'E2E_BIN=%q\n' "$3"
    printf 'E2E_DATA_DIR=%q\n' "$state/data"
    printf 'E2E_DATABASE_URL=%q\n' "$4"
    printf 'E2E_ADDR=%q\n' "127.0.0.1:$port"
    printf 'E2E_KEY=%q\n' "vt_$(random_hex 24)"
    printf 'E2E_PASSWORD=%q\n' "$(random_hex 12)"
    printf 'E2E_DASHBOARD_DIR=%q\n' "$5"
  } >"$state/env"
  chmod 600 "$state/env"
  exit 0
fi
[[ -f $state/env ]] || die "$state/env is missing"
# shellcheck source=/dev/null
source "$state/env"
: "${E2E_BIN:?}" "${E2E_DATA_DIR:?}" "${E2E_ADDR:?}"

db_args=(--data-dir "$E2E_DATA_DIR")
[[ -n ${E2E_DATABASE_URL:-} ]] && db_args+=(--database-url "$E2E_DATABASE_URL")

running_pid() {
  [[ -f $state/server.pid ]] || return 1
  local pid; pid=$(cat "$state/server.pid")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

start() {
  if running_pid >/dev/null; then die "a server is already running (pid $(cat "$state/server.pid"))"; fi
  echo "--- start $(date -u +%FT%TZ) ---" >>"$state/server.log"
  # Anomaly detection runs only when a test asks (like the API tests): a scheduled run in the
  # middle of the CloudTrail import would move the detection cursor past half-imported windows.
  # setsid: the server gets its own process group, so nothing sent to the caller's group
  # (Ctrl-C, the runner's own shutdown) stops it behind the trap's back.
  VERITRAIL_BOOTSTRAP_KEY=$E2E_KEY \
    VERITRAIL_BOOTSTRAP_PASSWORD=$E2E_PASSWORD \
    VERITRAIL__SEARCH__EMBEDDING__PROVIDER=none \
    VERITRAIL__ALERTS__ALLOW_PRIVATE_TARGETS=true \
    VERITRAIL__ANOMALIES__SCHEDULE= \
    VERITRAIL__SERVER__DASHBOARD_DIR=$E2E_DASHBOARD_DIR \
    RUST_LOG=${RUST_LOG:-info} \
    setsid "$E2E_BIN" serve "${db_args[@]}" --addr "$E2E_ADDR" >>"$state/server.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$state/server.pid"
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "http://$E2E_ADDR/healthz" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "--- tail of $state/server.log ---" >&2; tail -n 40 "$state/server.log" >&2
      die "the server exited during start-up"
    fi
    if ((SECONDS > deadline)); then
      echo "--- tail of $state/server.log ---" >&2; tail -n 40 "$state/server.log" >&2
      die "the server did not answer /healthz within 60 s"
    fi
    sleep 0.1
  done
}

stop() {
  local pid
  pid=$(running_pid) || { rm -f "$state/server.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$state/server.pid"; return 0; }
    sleep 0.1
  done
  echo "e2e-server.sh: the server did not stop within 10 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$state/server.pid"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  ingest)
    [[ $# -eq 3 ]] || die "usage: $0 ingest STATE_DIR FILE.jsonl"
    "$E2E_BIN" ingest "$3" "${db_args[@]}" --tenant default >&2
    ;;
  *) die "unknown command $cmd" ;;
esac
