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

cargo test --workspace --locked "$@"
