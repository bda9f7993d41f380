# shellcheck shell=bash
# Sourced by bench.sh and compression-levels.sh: a throw-away PostgreSQL
# cluster in a temporary directory (named after $1), on a Unix socket,
# stopped and removed on exit. Sets BIN, work, port, PGHOST/PGPORT/PGUSER.
BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}"
work=$(mktemp -d "${BENCH_DIR:-/tmp}/lifeboat-$1.XXXXXX")
chmod 755 "$work"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { as_pg "$BIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
as_pg "$BIN/initdb" -D "$work/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$BIN/pg_ctl" -D "$work/data" -o "-k $work -p $port -c listen_addresses='' -c fsync=off" -l "$work/log" -w start >/dev/null
export PGHOST="$work" PGPORT="$port" PGUSER=postgres
