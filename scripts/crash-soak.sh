#!/usr/bin/env bash
# Crash soak: the kill -9 recovery test (backend/server/tests/process.rs) with many more rounds,
# on SQLite and on a real PostgreSQL started here (scripts/pg.sh) and stopped on exit.
#
# Usage: scripts/crash-soak.sh [extra cargo test arguments]
#   VERITRAIL_CRASH_ROUNDS  kills per backend (default 100)
#   VERITRAIL_CRASH_SEED    replay a failing run (the test prints its seed)
set -euo pipefail
cd "$(dirname "$0")/.."

# The data directory must be reachable by the unprivileged `postgres` user, hence /tmp.
pg_data=$(mktemp -d /tmp/veritrail-soak-pg.XXXXXX)
cleanup() {
  scripts/pg.sh stop "$pg_data" >/dev/null 2>&1 || true
  rm -rf "$pg_data"
}
trap cleanup EXIT

echo "crash-soak.sh: starting PostgreSQL" >&2
VERITRAIL_TEST_PG_URL=$(scripts/pg.sh start "$pg_data")
export VERITRAIL_TEST_PG_URL
# A PostgreSQL that fails to come up must fail the soak, not skip its half.
export VERITRAIL_TEST_REQUIRE_PG=1
export VERITRAIL_CRASH_ROUNDS=${VERITRAIL_CRASH_ROUNDS:-100}
echo "crash-soak.sh: $VERITRAIL_CRASH_ROUNDS rounds per backend, PostgreSQL at $VERITRAIL_TEST_PG_URL" >&2

cargo test -p veritrail-server --test process crash_recovery "$@" -- --nocapture
