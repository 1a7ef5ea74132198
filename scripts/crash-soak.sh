#!/usr/bin/env bash
# Crash soak: the kill -9 recovery test (backend/server/tests/process.rs) with many more rounds,
# on SQLite and on a real PostgreSQL (scripts/with-pg.sh).
#
# Usage: scripts/crash-soak.sh [extra cargo test arguments]
#   VERITRAIL_CRASH_ROUNDS  kills per backend (default 100)
#   VERITRAIL_CRASH_SEED    replay a failing run (the test prints its seed)
set -euo pipefail
cd "$(dirname "$0")/.."

export VERITRAIL_CRASH_ROUNDS=${VERITRAIL_CRASH_ROUNDS:-100}
echo "crash-soak.sh: $VERITRAIL_CRASH_ROUNDS rounds per backend" >&2
scripts/with-pg.sh cargo test -p veritrail-server --test process crash_recovery "$@" -- --nocapture
