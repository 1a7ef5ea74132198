#!/usr/bin/env bash
# The dashboard's budgets (frontend/bench/budgets.mjs) against a fresh release server, on SQLite
# and, when VERITRAIL_TEST_PG_URL is set (scripts/with-pg.sh scripts/dashboard-bench.sh), on
# PostgreSQL. Writes bench/results/dashboard-DATE-BACKEND.json; the Markdown summary beside them
# is written by hand from those numbers.
#
# Environment: VERITRAIL_BIN (default: the release binary, built when missing), RATE, DURATION,
#   LOADS, SAMPLES (see budgets.mjs), CHROMIUM (default /usr/bin/chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

die() { echo "dashboard-bench.sh: ERROR: $*" >&2; exit 1; }

target=${CARGO_TARGET_DIR:-$HOME/.cache/veritrail/target}
bin=${VERITRAIL_BIN:-$target/release/veritrail}
if [[ -z ${VERITRAIL_BIN:-} ]]; then
  cargo build --release --locked -p veritrail-server
fi
[[ -x $bin ]] || die "no server binary at $bin"
[[ -x ${CHROMIUM:-/usr/bin/chromium} ]] || die "Chromium is missing (scripts/browser-test.sh installs it)"
scripts/build-frontend.sh
[[ -d frontend/node_modules/playwright-core ]] || (cd frontend && npm ci --no-audit --no-fund --loglevel=error)

random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

state=""
cleanup() { if [[ -n $state ]]; then scripts/e2e-server.sh stop "$state" || true; rm -rf "$state"; fi; }
trap cleanup EXIT

bench_backend() {
  local backend=$1 database_url=$2
  state=$(mktemp -d "${TMPDIR:-/tmp}/veritrail-bench-$backend.XXXXXX")
  scripts/e2e-server.sh prepare "$state" "$bin" "$database_url" "$repo/frontend/dist"
  # shellcheck source=/dev/null
  source "$state/env"
  local key=$E2E_KEY password=$E2E_PASSWORD port=${E2E_ADDR##*:}
  RUST_LOG=warn scripts/e2e-server.sh start "$state"
  local out
  out=${BENCH_OUT_DIR:-$repo/bench/results}/dashboard-$(date -u +%F)-$backend.json
  (cd frontend && BASE_URL="http://127.0.0.1:$port" VERITRAIL_KEY=$key VERITRAIL_PASSWORD=$password OUT=$out \
    node bench/budgets.mjs) || die "[$backend] the benchmark failed; server log in $state/server.log"
  echo "dashboard-bench.sh: [$backend] results in ${out#"$repo"/}" >&2
  cleanup
  state=""
}

bench_backend sqlite ""
if [[ -n ${VERITRAIL_TEST_PG_URL:-} ]]; then
  db=veritrail_bench_$(random_hex 4)
  psql "$VERITRAIL_TEST_PG_URL" -X -q -v ON_ERROR_STOP=1 -c "create database $db" >/dev/null
  url="${VERITRAIL_TEST_PG_URL%/*}/$db"
  psql "$url" -X -q -c 'create extension if not exists vector' >/dev/null
  bench_backend postgres "$url"
  psql "$VERITRAIL_TEST_PG_URL" -X -q -c "drop database $db" >/dev/null || true
fi
