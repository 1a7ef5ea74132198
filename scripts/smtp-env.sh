#!/usr/bin/env bash
# Python environment for scripts/smtp-sink.py (the test SMTP server).
#   scripts/smtp-env.sh    create (once) a venv with aiosmtpd and print ONE line: its python
# The venv is cached outside the clone so repeated runs and CI on a kept machine reuse it.
# Everything except the python path goes to stderr.
set -euo pipefail

AIOSMTPD_VERSION=1.4.6
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/veritrail/venv-smtp
PY=$VENV/bin/python

log() { echo "smtp-env.sh: $*" >&2; }

if [[ -x $PY ]] && "$PY" -c 'import aiosmtpd' 2>/dev/null; then
  echo "$PY"
  exit 0
fi

base=${PYTHON:-$(command -v python3 || true)}
[[ -n $base ]] || { log "ERROR: python3 not found (install python3 and python3-venv)"; exit 1; }
log "creating $VENV with aiosmtpd $AIOSMTPD_VERSION"
mkdir -p "$(dirname "$VENV")"
"$base" -m venv "$VENV" >&2 || { log "ERROR: '$base -m venv' failed (Debian: apt-get install python3-venv)"; exit 1; }
"$PY" -m pip install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION" >&2 \
  || { log "ERROR: pip install aiosmtpd failed"; exit 1; }
"$PY" -c 'import aiosmtpd' || { log "ERROR: aiosmtpd does not import after install"; exit 1; }
echo "$PY"
