#!/usr/bin/env bash
# Start or stop a throw-away PostgreSQL 15 for tests and benchmarks.
#   .ci/postgres.sh start DIR   -> prints a postgresql+asyncpg:// URL on stdout
#   .ci/postgres.sh stop DIR
# The server runs as the 'postgres' user (initdb refuses root) on a free loopback port,
# with its data and socket under DIR.
set -euo pipefail

action=${1:?start or stop}
dir=${2:?directory}
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$action" in
  start)
    if [ ! -x "$pgbin/initdb" ]; then
      echo "PostgreSQL not found in $pgbin; installing it" >&2
      apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
      pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    fi
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_postgres "$pgbin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 >&2
    as_postgres "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >&2
    echo "postgresql+asyncpg://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_postgres "$pgbin/pg_ctl" -D "$dir/data" -m immediate -w stop >&2 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
