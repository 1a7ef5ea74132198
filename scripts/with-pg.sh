#!/usr/bin/env bash
# Runs a command with a real PostgreSQL + pgvector started for it (scripts/pg.sh, from a PyPI
# wheel cached outside the clone) and stopped afterwards, whatever the command's outcome.
# Exports VERITRAIL_TEST_PG_URL and VERITRAIL_TEST_REQUIRE_PG=1: a PostgreSQL that cannot start
# fails the run, and the tests refuse to skip their PostgreSQL half.
#
# Usage: scripts/with-pg.sh COMMAND [ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."

# The data directory must be reachable by the unprivileged `postgres` user, hence /tmp.
pg_data=$(mktemp -d /tmp/veritrail-pg.XXXXXX)
cleanup() {
  scripts/pg.sh stop "$pg_data" >/dev/null 2>&1 || true
  rm -rf "$pg_data"
}
trap cleanup EXIT

echo "with-pg.sh: starting PostgreSQL with pgvector" >&2
VERITRAIL_TEST_PG_URL=$(scripts/pg.sh start "$pg_data")
export VERITRAIL_TEST_PG_URL
export VERITRAIL_TEST_REQUIRE_PG=1
echo "with-pg.sh: PostgreSQL at $VERITRAIL_TEST_PG_URL" >&2

"$@"
