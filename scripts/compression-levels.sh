#!/usr/bin/env bash
# Measures every gzip level (zlib-rs) and zstd's default on the fixtures:
# set size against `pg_dump | gzip` (PostgreSQL) or `gzip -6` of the file
# (SQLite), with wall and CPU seconds, to choose the default level.
#
#   scripts/compression-levels.sh                 # PG scales 1 2 3, SQLite scale 5
#   LB=/path/to/lifeboat PG_SCALES="1 3" scripts/compression-levels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PG_SCALES="${PG_SCALES:-1 2 3}"
SQLITE_SCALE="${SQLITE_SCALE:-5}"
JOBS="${JOBS:-2}"
if [ -z "${LB:-}" ]; then cargo build --release --quiet; LB="$PWD/target/release/lifeboat"; fi
BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}"
work=$(mktemp -d /tmp/lifeboat-levels.XXXXXX)
chmod 755 "$work"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { as_pg "$BIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
as_pg "$BIN/initdb" -D "$work/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$BIN/pg_ctl" -D "$work/data" -o "-k $work -p $port -c listen_addresses='' -c fsync=off" -l "$work/log" -w start >/dev/null
export PGHOST="$work" PGPORT="$port" PGUSER=postgres

# "wall cpu" seconds of a command.
measure() { /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" >/dev/null 2>&1; awk '{printf "%.2f %.2f\n", $1, $2+$3}' "$work/time"; }
mb() { du -sb "$1" | cut -f1; }
echo "| fixture | compression | wall s | cpu s | size | vs reference |"
echo "|---|---|---|---|---|---|"
for scale in $PG_SCALES; do
  db="agents$scale"
  "$BIN/createdb" "$db"
  "$BIN/psql" -q -d "$db" -v scale="$scale" -f tests/fixtures/agent_platform.sql >/dev/null
  read -r w c < <(measure sh -c "'$BIN/pg_dump' $db | gzip > '$work/ref.gz'")
  ref=$(mb "$work/ref.gz")
  echo "| agent_platform $scale | pg_dump \| gzip -6 | $w | $c | $((ref / 1000000)) MB | 1.000 |"
  for level in 1 2 3 4 5 6 7 8 9 zstd; do
    rm -rf "$work/out"
    if [ "$level" = zstd ]; then args=(--compression zstd); else args=(--compression gzip --compression-level "$level"); fi
    read -r w c < <(measure "$LB" backup "postgresql://postgres@/$db?host=$work&port=$port" --out "$work/out" --jobs "$JOBS" --quiet "${args[@]}")
    s=$(mb "$work/out")
    echo "| agent_platform $scale | ${args[*]} | $w | $c | $((s / 1000000)) MB | $(python3 -c "print(f'{$s/$ref:.3f}')") |"
  done
  "$BIN/dropdb" "$db"
done
sqlite3 -cmd ".parameter set @scale $SQLITE_SCALE" "$work/agent.db" < tests/fixtures/agent_sqlite.sql >/dev/null
read -r w c < <(measure sh -c "sqlite3 '$work/agent.db' \".backup '$work/copy.db'\" && gzip -6 -c '$work/copy.db' > '$work/copy.db.gz'")
ref=$(mb "$work/copy.db.gz")
echo "| SQLite $SQLITE_SCALE | .backup + gzip -6 | $w | $c | $((ref / 1000000)) MB | 1.000 |"
for level in 1 2 3 4 5 6 7 8 9 zstd; do
  rm -rf "$work/out"
  if [ "$level" = zstd ]; then args=(--compression zstd); else args=(--compression gzip --compression-level "$level"); fi
  read -r w c < <(measure "$LB" backup "$work/agent.db" --out "$work/out" --quiet "${args[@]}")
  s=$(mb "$work/out")
  echo "| SQLite $SQLITE_SCALE | ${args[*]} | $w | $c | $((s / 1000000)) MB | $(python3 -c "print(f'{$s/$ref:.3f}')") |"
done
