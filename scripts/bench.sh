#!/usr/bin/env bash
# Measures lifeboat against pg_dump, pg_restore and sqlite3 on this machine,
# in the same run, and prints ratios (above 1 means lifeboat is faster).
#
#   scripts/bench.sh                 # agent_platform scale 1, SQLite scale 2
#   PG_SCALE=5 SQLITE_SCALE=10 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PG_SCALE="${PG_SCALE:-1}"
SQLITE_SCALE="${SQLITE_SCALE:-2}"
JOBS="${JOBS:-2}"
cargo build --release --quiet
LB="$PWD/target/release/lifeboat"
BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}"
work=$(mktemp -d /tmp/lifeboat-bench.XXXXXX)
chmod 755 "$work"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { as_pg "$BIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
as_pg "$BIN/initdb" -D "$work/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$BIN/pg_ctl" -D "$work/data" -o "-k $work -p $port -c listen_addresses='' -c fsync=off" -l "$work/log" -w start >/dev/null
export PGHOST="$work" PGPORT="$port" PGUSER=postgres
URL="postgresql://postgres@/agents?host=$work&port=$port"

# Wall seconds of a command, to the millisecond.
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); python3 -c "print(f'{$e-$s:.2f}')"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}x')"; }
size() { du -sb "$1" | cut -f1 | python3 -c "import sys; print(f'{int(sys.stdin.read())/1e6:.0f} MB')"; }
rows=()
row() { rows+=("| $1 | $2 s | $3 | $4 |"); }

"$BIN/createdb" agents
"$BIN/psql" -q -d agents -v scale="$PG_SCALE" -f tests/fixtures/agent_platform.sql >/dev/null
db_size=$("$BIN/psql" -Atc "select pg_size_pretty(pg_database_size('agents'))" -d agents)

base=$(t sh -c "'$BIN/pg_dump' agents > /dev/null")
row "pg_dump > /dev/null (the server's own limit)" "$base" "-" "-"
gz=$(t sh -c "'$BIN/pg_dump' agents | gzip > '$work/dump.sql.gz'")
row "pg_dump \| gzip" "$gz" "$(size "$work/dump.sql.gz")" "1.00x"
fc=$(t "$BIN/pg_dump" -Fc -f "$work/dump.fc" agents)
row "pg_dump -Fc" "$fc" "$(size "$work/dump.fc")" "-"
fd=$(t "$BIN/pg_dump" -Fd -j "$JOBS" -f "$work/dump.dir" agents)
row "pg_dump -Fd -j$JOBS" "$fd" "$(size "$work/dump.dir")" "-"
lb=$(t "$LB" backup "$URL" --out "$work/lb-gzip" --jobs "$JOBS" --quiet)
row "**lifeboat backup -j$JOBS** (gzip 6, hashed, manifest)" "$lb" "$(size "$work/lb-gzip")" "$(ratio "$gz" "$lb") vs pg_dump\|gzip, $(ratio "$fd" "$lb") vs -Fd -j$JOBS"
lbz=$(t "$LB" backup "$URL" --out "$work/lb-zstd" --jobs "$JOBS" --compression zstd --quiet)
row "**lifeboat backup -j$JOBS --compression zstd**" "$lbz" "$(size "$work/lb-zstd")" "$(ratio "$gz" "$lbz") vs pg_dump\|gzip"

"$BIN/createdb" r1
psql_restore=$(t sh -c "gunzip -c '$work/dump.sql.gz' | '$BIN/psql' -q -d r1")
row "gunzip \| psql restore" "$psql_restore" "-" "1.00x"
"$BIN/createdb" r2
pgr=$(t "$BIN/pg_restore" -j "$JOBS" -d r2 "$work/dump.fc")
row "pg_restore -j$JOBS" "$pgr" "-" "-"
set_file=$(ls "$work"/lb-gzip/*.tar)
lbr=$(t "$LB" restore "$set_file" --to "postgresql://postgres@/r3?host=$work&port=$port" --create-db --jobs "$JOBS" --force --quiet)
row "**lifeboat restore --create-db -j$JOBS** (checks hashes and row counts)" "$lbr" "-" "$(ratio "$psql_restore" "$lbr") vs gunzip\|psql, $(ratio "$pgr" "$lbr") vs pg_restore -j$JOBS"

# SQLite
sqlite3 -cmd ".parameter set @scale $SQLITE_SCALE" "$work/agent.db" < tests/fixtures/agent_sqlite.sql >/dev/null
sq_size=$(size "$work/agent.db")
sq=$(t sh -c "sqlite3 '$work/agent.db' \".backup '$work/copy.db'\" && gzip -6 -c '$work/copy.db' > '$work/copy.db.gz' && sha256sum '$work/copy.db.gz' > '$work/copy.db.gz.sha256'")
row "sqlite3 .backup + gzip + sha256sum" "$sq" "$(size "$work/copy.db.gz")" "1.00x"
lbs=$(t "$LB" backup "$work/agent.db" --out "$work/lb-sqlite" --quiet)
row "**lifeboat backup** SQLite (integrity_check, digests)" "$lbs" "$(size "$work/lb-sqlite")" "$(ratio "$sq" "$lbs")"
sqr=$(t sh -c "gunzip -c '$work/copy.db.gz' > '$work/restored.db' && sqlite3 '$work/restored.db' 'PRAGMA integrity_check'")
row "gunzip + sqlite3 integrity_check" "$sqr" "-" "1.00x"
lbsr=$(t "$LB" restore "$(ls "$work"/lb-sqlite/*.tar)" --to "$work/lb-restored.db" --quiet)
row "**lifeboat restore** SQLite (hashes, integrity_check, digests)" "$lbsr" "-" "$(ratio "$sqr" "$lbsr")"

echo "PostgreSQL $("$BIN/postgres" --version | awk '{print $3}'), agent_platform scale $PG_SCALE ($db_size); SQLite scale $SQLITE_SCALE ($sq_size); $(nproc) cores"
echo
echo "| command | wall | output | lifeboat ratio |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
