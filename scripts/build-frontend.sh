#!/usr/bin/env bash
# Builds the dashboard into frontend/dist when the build is missing or older than its sources.
# npm keeps its package cache in the user's home (outside the clone), so a second clone on the
# same machine installs from it.
#
# Usage: scripts/build-frontend.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/../frontend"

if ! command -v npm >/dev/null; then
    echo "build-frontend.sh: npm is not installed; install Node.js 20.19 or newer" >&2
    exit 1
fi
stamp=dist/index.html
if [[ "${1:-}" != --force && -f $stamp ]] &&
    [[ -z $(find src public index.html package.json package-lock.json vite.config.ts tsconfig.json -newer "$stamp" -print -quit) ]]; then
    exit 0
fi
echo "build-frontend.sh: building the dashboard (npm ci, vite build)" >&2
npm ci --no-audit --no-fund --loglevel=error
npm run build
# A gzip copy of every text asset beside it, served to browsers that accept gzip (the server
# does not compress on the fly).
find dist -type f \( -name '*.js' -o -name '*.css' -o -name '*.html' -o -name '*.svg' -o -name '*.json' \) \
    -exec gzip -9 --keep --force --no-name {} +
