#!/usr/bin/env bash
# Measures every gzip level (zlib-rs) and zstd levels 1 to 3 on the fixtures:
# set size against `pg_dump | gzip` (PostgreSQL) or `gzip -6` of the file
# (SQLite), with wall and CPU seconds, to choose the default level.
#
#   scripts/compression-levels.sh                 # PG scales 1 2 3, SQLite scale 5
#   LB=/path/to/lifeboat PG_SCALES="1 3" scripts/compression-levels.sh
#   LEVELS="zstd1 zstd2 zstd3" scripts/compression-levels.sh  # some levels only
set -euo pipefail
cd "$(dirname "$0")/.."
PG_SCALES="${PG_SCALES:-1 2 3}"
SQLITE_SCALE="${SQLITE_SCALE:-5}"
JOBS="${JOBS:-2}"
LEVELS="${LEVELS:-1 2 3 4 5 6 7 8 9 zstd1 zstd2 zstd3}"
if [ -z "${LB:-}" ]; then cargo build --release --quiet; LB="$PWD/target/release/lifeboat"; fi
. scripts/bench-cluster.sh levels

# "wall cpu" seconds of a command.
measure() { /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" >/dev/null 2>&1; awk '{printf "%.2f %.2f\n", $1, $2+$3}' "$work/time"; }
mb() { du -sb "$1" | cut -f1; }
# One row per level in $LEVELS (zstdN is zstd at level N): backs up $2 (a URL or file, with
# the extra flags after it) as fixture $1, against reference size $ref.
levels() {
  local fixture=$1; shift
  for level in $LEVELS; do
    rm -rf "$work/out"
    case $level in
      zstd*) args=(--compression zstd --compression-level "${level#zstd}") ;;
      *) args=(--compression gzip --compression-level "$level") ;;
    esac
    read -r w c < <(measure "$LB" backup "$@" --out "$work/out" --quiet "${args[@]}")
    s=$(mb "$work/out")
    echo "| $fixture | ${args[*]} | $w | $c | $((s / 1000000)) MB | $(python3 -c "print(f'{$s/$ref:.3f}')") |"
  done
}
echo "| fixture | compression | wall s | cpu s | size | vs reference |"
echo "|---|---|---|---|---|---|"
for scale in $PG_SCALES; do
  db="agents$scale"
  "$BIN/createdb" "$db"
  "$BIN/psql" -q -d "$db" -v scale="$scale" -f tests/fixtures/agent_platform.sql >/dev/null
  read -r w c < <(measure sh -c "'$BIN/pg_dump' $db | gzip > '$work/ref.gz'")
  ref=$(mb "$work/ref.gz")
  echo "| agent_platform $scale | pg_dump \| gzip -6 | $w | $c | $((ref / 1000000)) MB | 1.000 |"
  levels "agent_platform $scale" "postgresql://postgres@/$db?host=$work&port=$port" --jobs "$JOBS"
  "$BIN/dropdb" "$db"
done
sqlite3 -cmd ".parameter set @scale $SQLITE_SCALE" "$work/agent.db" < tests/fixtures/agent_sqlite.sql >/dev/null
read -r w c < <(measure sh -c "sqlite3 '$work/agent.db' \".backup '$work/copy.db'\" && gzip -6 -c '$work/copy.db' > '$work/copy.db.gz'")
ref=$(mb "$work/copy.db.gz")
echo "| SQLite $SQLITE_SCALE | .backup + gzip -6 | $w | $c | $((ref / 1000000)) MB | 1.000 |"
levels "SQLite $SQLITE_SCALE" "$work/agent.db"
