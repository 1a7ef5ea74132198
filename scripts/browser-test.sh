#!/usr/bin/env bash
# Browser tests of the dashboard (frontend/e2e, Playwright driving the system's Chromium) against
# a real Veritrail server: on SQLite in a temporary directory, and on PostgreSQL too when
# VERITRAIL_TEST_PG_URL is set (scripts/with-pg.sh scripts/browser-test.sh). Each backend gets a
# fresh server with a random admin key and admin password, stopped afterwards whatever happens.
# Anything that cannot start fails the run; nothing is skipped.
#
# Usage: scripts/browser-test.sh [--screenshots] [PLAYWRIGHT ARGS...]
#   --screenshots   also photograph every page (SQLite run) into docs/screenshots
# Environment: VERITRAIL_BIN (default $CARGO_TARGET_DIR/debug/veritrail, as `cargo test` leaves
#   it), CHROMIUM (default /usr/bin/chromium), VERITRAIL_E2E_CLOUDTRAIL_DIR (default the
#   invictus-aws-stratus capture in ../shared/data), VERITRAIL_E2E_KEEP=1 keeps the state
#   directories (server logs, traces).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
started_all=$SECONDS

die() { echo "browser-test.sh: ERROR: $*" >&2; exit 1; }
log() { echo "browser-test.sh: $*" >&2; }

screenshots=0
if [[ ${1:-} == --screenshots ]]; then screenshots=1; shift; fi

# --- what the tests need -------------------------------------------------------------------
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [[ ! -x $CHROMIUM ]]; then
  log "$CHROMIUM is missing; installing Debian's chromium"
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
  fi
  [[ -x $CHROMIUM ]] || die "chromium could not be installed at $CHROMIUM"
fi
"$CHROMIUM" --version 2>/dev/null >&2 || die "$CHROMIUM does not run"
command -v curl >/dev/null || die "curl is needed"

target=${CARGO_TARGET_DIR:-$HOME/.cache/veritrail/target}
bin=${VERITRAIL_BIN:-$target/debug/veritrail}
[[ -x $bin ]] || die "no server binary at $bin; build it (cargo build -p veritrail-server, or cargo test) or set VERITRAIL_BIN"

cloudtrail=${VERITRAIL_E2E_CLOUDTRAIL_DIR:-$repo/../shared/data/invictus-aws-stratus/raw/CloudTrail}
compgen -G "$cloudtrail/*.json" >/dev/null || die "the CloudTrail capture is missing: $cloudtrail/*.json"
cloudtrail=$(cd "$cloudtrail" && pwd)

if [[ ${VERITRAIL_TEST_REQUIRE_PG:-} == 1 && -z ${VERITRAIL_TEST_PG_URL:-} ]]; then
  die "VERITRAIL_TEST_REQUIRE_PG=1 but VERITRAIL_TEST_PG_URL is not set"
fi

scripts/build-frontend.sh
# The test runner is a development dependency: install it when the build did not need to.
if [[ ! -d frontend/node_modules/@playwright/test || ! -d frontend/node_modules/axe-core ]] ||
  [[ frontend/package-lock.json -nt frontend/node_modules/.package-lock.json ]]; then
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
fi
[[ -f frontend/dist/index.html ]] || die "the dashboard was not built"

random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# --- one backend -----------------------------------------------------------------------------
state=""
pg_db=""
cleanup_backend() {
  if [[ -n $state && -f $state/env ]]; then scripts/e2e-server.sh stop "$state" || true; fi
  if [[ -n $pg_db ]]; then
    psql "$VERITRAIL_TEST_PG_URL" -X -q -c "drop database if exists $pg_db" >/dev/null 2>&1 || true
    pg_db=""
  fi
}
trap cleanup_backend EXIT
trap 'exit 130' INT TERM

# Replaces the database name in a postgres:// URL (keeping any ?query).
with_database() {
  local url=$1 db=$2 query=""
  if [[ $url == *\?* ]]; then query="?${url#*\?}"; url=${url%%\?*}; fi
  echo "${url%/*}/$db$query"
}

failed=()
summary=()
run_backend() {
  local backend=$1 t0=$SECONDS
  shift
  state=$(mktemp -d "${TMPDIR:-/tmp}/veritrail-e2e-$backend.XXXXXX")
  local database_url=""
  if [[ $backend == postgres ]]; then
    if command -v psql >/dev/null; then
      # A fresh database of its own on the test server, dropped afterwards.
      pg_db=veritrail_e2e_$(random_hex 6)
      psql "$VERITRAIL_TEST_PG_URL" -X -q -v ON_ERROR_STOP=1 -c "create database $pg_db" >/dev/null ||
        die "cannot create database $pg_db at $VERITRAIL_TEST_PG_URL"
      database_url=$(with_database "$VERITRAIL_TEST_PG_URL" "$pg_db")
      psql "$database_url" -X -q -v ON_ERROR_STOP=1 -c 'create extension if not exists vector' >/dev/null ||
        die "cannot create the vector extension in $pg_db"
    else
      # The throwaway server scripts/with-pg.sh started for this run.
      database_url=$VERITRAIL_TEST_PG_URL
    fi
  fi
  scripts/e2e-server.sh prepare "$state" "$bin" "$database_url" "$repo/frontend/dist"
  # shellcheck source=/dev/null
  source "$state/env"
  local key=$E2E_KEY password=$E2E_PASSWORD port=${E2E_ADDR##*:}

  log "[$backend] starting veritrail serve on 127.0.0.1:$port (state in $state)"
  scripts/e2e-server.sh start "$state"
  # The bootstrap key only takes on an empty database: make sure it did.
  curl -fsS -o /dev/null -H "Authorization: Bearer $key" "http://127.0.0.1:$port/api/v1/auth/me" ||
    die "[$backend] the server does not accept the bootstrap key (was the database empty?); see $state/server.log"
  curl -fsS "http://127.0.0.1:$port/" | grep -q '<div id="root">' ||
    die "[$backend] the server does not serve the dashboard from frontend/dist"

  local status=0
  (
    cd frontend
    BASE_URL="http://127.0.0.1:$port" \
      VERITRAIL_E2E_KEY=$key \
      VERITRAIL_E2E_PASSWORD=$password \
      VERITRAIL_E2E_STATE=$state \
      VERITRAIL_E2E_SERVER_CTL=$repo/scripts/e2e-server.sh \
      VERITRAIL_E2E_CLOUDTRAIL_DIR=$cloudtrail \
      VERITRAIL_E2E_BACKEND=$backend \
      VERITRAIL_E2E_OUTPUT=$state/results \
      npx --no-install playwright test "$@"
  ) || status=$?
  if [[ $status -eq 0 && $screenshots -eq 1 && $backend == sqlite ]]; then
    log "[$backend] screenshots into docs/screenshots"
    # A checkpoint over the newest events, so the drawer shows them verified.
    curl -fsS -o /dev/null -X POST -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d '{}' \
      "http://127.0.0.1:$port/api/v1/admin/jobs/checkpoint/run" || status=$?
    (
      cd frontend
      BASE_URL="http://127.0.0.1:$port" OUT=$repo/docs/screenshots VERITRAIL_USERNAME=admin VERITRAIL_PASSWORD=$password \
        node scripts/screenshots.mjs
    ) || status=$?
  fi
  cleanup_backend
  if [[ $status -ne 0 ]]; then
    echo "--- [$backend] tail of $state/server.log ---" >&2
    tail -n 40 "$state/server.log" >&2 || true
    log "[$backend] FAILED after $((SECONDS - t0)) s; server log, traces and screenshots kept in $state"
    failed+=("$backend")
  else
    log "[$backend] passed in $((SECONDS - t0)) s"
    [[ ${VERITRAIL_E2E_KEEP:-} == 1 ]] || rm -rf "$state"
  fi
  summary+=("$backend: $([[ $status -eq 0 ]] && echo passed || echo FAILED) in $((SECONDS - t0)) s")
  state=""
}

run_backend sqlite "$@"
if [[ -n ${VERITRAIL_TEST_PG_URL:-} ]]; then
  run_backend postgres "$@"
else
  log "VERITRAIL_TEST_PG_URL is not set: PostgreSQL not tested (run scripts/with-pg.sh scripts/browser-test.sh)"
fi

for line in "${summary[@]}"; do log "$line"; done
log "total $((SECONDS - started_all)) s"
if [[ ${#failed[@]} -gt 0 ]]; then die "browser tests failed on: ${failed[*]}"; fi
