#!/usr/bin/env bash
# The whole test suite, with real components: it starts PostgreSQL + pgvector (scripts/pg.sh,
# from a PyPI wheel, cached outside the clone), runs every test against SQLite and PostgreSQL,
# and stops PostgreSQL again. A component that cannot start fails the run; nothing is skipped.
#
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# The data directory must be reachable by the unprivileged `postgres` user, hence /tmp.
pg_data=$(mktemp -d /tmp/veritrail-test-pg.XXXXXX)
cleanup() {
  scripts/pg.sh stop "$pg_data" >/dev/null 2>&1 || true
  rm -rf "$pg_data"
}
trap cleanup EXIT

echo "test.sh: starting PostgreSQL with pgvector" >&2
VERITRAIL_TEST_PG_URL=$(scripts/pg.sh start "$pg_data")
export VERITRAIL_TEST_PG_URL
export VERITRAIL_TEST_REQUIRE_PG=1
echo "test.sh: PostgreSQL at $VERITRAIL_TEST_PG_URL" >&2

# Every test binary prints its own "test result" line; the last one may be a crate without tests,
# so finish with one line that adds them all up.
log=$(mktemp)
trap 'cleanup; rm -f "$log"' EXIT
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "summary: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
