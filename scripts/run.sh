#!/usr/bin/env bash
# Runs Veritrail on a fresh machine: builds the release binary if needed, then starts
# `veritrail serve` on SQLite in ./data (override with --data-dir, --database-url, --addr).
#
# Usage: scripts/run.sh [serve flags...]
set -euo pipefail
cd "$(dirname "$0")/.."

echo "run.sh: building veritrail (release; the first build takes several minutes)" >&2
cargo build --release --locked -p veritrail-server
target_dir=${CARGO_TARGET_DIR:-target}
exec "$target_dir/release/veritrail" serve "$@"
