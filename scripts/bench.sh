#!/usr/bin/env bash
# Measures lifeboat against pg_dump, pg_restore and sqlite3 on this machine,
# in the same run, and prints time ratios lifeboat/anchor (below 1 means
# lifeboat is faster; issue 13's targets are in these terms), with peak RSS
# and peak extra disk of lifeboat's own runs.
#
#   scripts/bench.sh                            # agent_platform scale 1, SQLite scale 2
#   PG_SCALE=3 SQLITE_SCALE=5 scripts/bench.sh  # the README's table
#   PG_SCALE=70 SQLITE_SCALE=0 BACKUP_RUNS=1 RESTORE_RUNS=1 scripts/bench.sh
#                                               # the scale run: ~10 GB, an hour or more
#   LB=/path/to/lifeboat scripts/bench.sh       # another build (before/after)
#   ZSTD_RESTORE=1 ...                          # also restore the zstd set
#
# Each dump, set and restored database is removed as soon as no later row
# needs it, so the scale run peaks near 2x the database (the --clean row
# builds a copy beside r3) plus one dump and the sets, not at five copies.
# Every row that a ratio is taken of alternates its anchor and lifeboat
# three times (BACKUP_RUNS for backups, RESTORE_RUNS for restores, after
# which --clean runs as many times) and prints medians, so one slow run
# does not decide the ratio (pg_dump -Fc and -Fd run once); lifeboat's
# peak RSS and disk are the most of its runs.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_SCALE="${PG_SCALE:-1}"
SQLITE_SCALE="${SQLITE_SCALE:-2}"
JOBS="${JOBS:-2}"
RESTORE_RUNS="${RESTORE_RUNS:-3}"
BACKUP_RUNS="${BACKUP_RUNS:-3}"
if [ -z "${LB:-}" ]; then
  cargo build --release --quiet
  LB="$PWD/target/release/lifeboat"
fi
. scripts/bench-cluster.sh bench
url() { echo "postgresql://postgres@/$1?host=$work&port=$port"; }

# Wall seconds of a command, to the hundredth.
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); python3 -c "print(f'{$e-$s:.2f}')"; }
# For lifeboat runs: sets $wall (seconds), $rss (peak resident MB, from
# /usr/bin/time -v) and $disk (the most `du -sb` of directory $1 grew while
# it ran, in MB, sampled every 0.2 s). Not in a subshell, so call it as is.
bytes() { local b; b=$(du -sb "$1" 2>/dev/null | head -1 | cut -f1); echo "${b:-0}"; }
# User and system CPU seconds of the whole machine so far (every process and
# the kernel's own threads: the server's work counts, not only lifeboat's).
machine_cpu() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / {print ($2 + $3) / hz, ($4 + $7 + $8) / hz}' /proc/stat; }
# Also sets $user and $sys, the machine's CPU seconds while it ran.
tl() {
  local dir=$1; shift
  local before s e peak=0 now pid u0 s0 u1 s1
  before=$(bytes "$dir")
  read -r u0 s0 < <(machine_cpu)
  s=$(date +%s.%N)
  /usr/bin/time -v -o "$work/time.v" "$@" >/dev/null 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    now=$(bytes "$dir")
    [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.2
  done
  wait "$pid" || { echo "failed: $*" >&2; cat "$work/time.v" >&2; exit 1; }
  e=$(date +%s.%N)
  read -r u1 s1 < <(machine_cpu)
  user=$(python3 -c "print(f'{$u1-$u0:.2f}')") sys=$(python3 -c "print(f'{$s1-$s0:.2f}')")
  rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$work/time.v")
  disk=$(( (peak > before ? peak - before : 0) / 1000000 ))
  wall=$(python3 -c "print(f'{$e-$s:.2f}')")
}
ratio() { python3 -c "print(f'{$1/$2:.2f}x')"; }
size() { du -sb "$1" | cut -f1 | python3 -c "import sys; print(f'{int(sys.stdin.read())/1e6:.0f} MB')"; }
rows=()
row() { rows+=("| $1 | $2 s | $3 | $4 | $5 |"); }
res() { echo "$rss MB RSS, +$disk MB disk"; }

"$BIN/createdb" agents
# The fixture's audit log has partitions for 2025 and 2026 only, which its
# rows (one every 37 s from 2025-06-01) outgrow past scale 13: larger runs
# get one more partition a year, after the fixture's own.
last_year=$(python3 -c "import datetime as d; print((d.datetime(2025, 6, 1) + d.timedelta(seconds=37 * 100000 * $PG_SCALE)).year)")
more_partitions=()
for ((y = 2027; y <= last_year; y++)); do
  more_partitions+=("CREATE TABLE audit_logs_$y PARTITION OF audit_logs FOR VALUES FROM ('$y-01-01') TO ('$((y + 1))-01-01');")
done
awk -v more="$(printf '%s\n' "${more_partitions[@]}")" '{ print } /^CREATE TABLE audit_logs_2026 PARTITION OF/ && more != "" { print more }' tests/fixtures/agent_platform.sql |
  "$BIN/psql" -q -d agents -v scale="$PG_SCALE" -f - >/dev/null
db_size=$("$BIN/psql" -Atc "select pg_size_pretty(pg_database_size('agents'))" -d agents)
db_bytes=$("$BIN/psql" -Atc "select pg_database_size('agents')" -d agents)
per_gb() { python3 -c "print(f'{$1/($db_bytes/1e9):.1f} s/GB')"; }

# The middle of the numbers given.
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
# The backups and their anchors take turns, BACKUP_RUNS times, and the
# rows print medians: a single pg_dump run moves by a tenth or more.
base_runs=() gz_runs=() lb_runs=() lbz_runs=() lb_rss=0 lb_disk=0 lbz_rss=0 lbz_disk=0
for i in $(seq "$BACKUP_RUNS"); do
  base_runs+=("$(t sh -c "'$BIN/pg_dump' agents > /dev/null")")
  rm -rf "$work/lb-zstd" && mkdir -p "$work/lb-zstd"
  tl "$work/lb-zstd" "$LB" backup "$(url agents)" --out "$work/lb-zstd" --jobs "$JOBS" --compression zstd --quiet
  lbz_runs+=("$wall")
  if [ "$rss" -gt "$lbz_rss" ]; then lbz_rss=$rss; fi
  if [ "$disk" -gt "$lbz_disk" ]; then lbz_disk=$disk; fi
  gz_runs+=("$(t sh -c "'$BIN/pg_dump' agents | gzip > '$work/dump.sql.gz'")")
  rm -rf "$work/lb-gzip" && mkdir -p "$work/lb-gzip"
  tl "$work/lb-gzip" "$LB" backup "$(url agents)" --out "$work/lb-gzip" --jobs "$JOBS" --quiet
  lb_runs+=("$wall")
  if [ "$rss" -gt "$lb_rss" ]; then lb_rss=$rss; fi
  if [ "$disk" -gt "$lb_disk" ]; then lb_disk=$disk; fi
done
base=$(median "${base_runs[@]}") gz=$(median "${gz_runs[@]}") lb=$(median "${lb_runs[@]}") lbz=$(median "${lbz_runs[@]}")
row "pg_dump > /dev/null (the server's own limit; median of ${base_runs[*]})" "$base" "-" "-" "-"
gz_bytes=$(du -sb "$work/dump.sql.gz" | cut -f1)
row "pg_dump \| gzip (median of ${gz_runs[*]})" "$gz" "$(size "$work/dump.sql.gz")" "-" "-"
fc=$(t "$BIN/pg_dump" -Fc -f "$work/dump.fc" agents)
row "pg_dump -Fc" "$fc" "$(size "$work/dump.fc")" "-" "-"
fd=$(t "$BIN/pg_dump" -Fd -j "$JOBS" -f "$work/dump.dir" agents)
row "pg_dump -Fd -j$JOBS" "$fd" "$(size "$work/dump.dir")" "-" "-"
rm -rf "$work/dump.dir"
lb_size=$(du -sb "$work/lb-gzip" | cut -f1)
rss=$lb_rss disk=$lb_disk
row "**lifeboat backup -j$JOBS** (default gzip, hashed, manifest; median of ${lb_runs[*]})" "$lb" "$(size "$work/lb-gzip") ($(python3 -c "print(f'{$lb_size/$gz_bytes:.2f}')")x pg_dump\|gzip)" "$(res)" "$(ratio "$lb" "$gz") of pg_dump\|gzip, $(ratio "$lb" "$fd") of -Fd -j$JOBS"
lb_gb=$(per_gb "$lb")
lbz_size=$(du -sb "$work/lb-zstd" | cut -f1)
rss=$lbz_rss disk=$lbz_disk
row "**lifeboat backup -j$JOBS --compression zstd** (median of ${lbz_runs[*]})" "$lbz" "$(size "$work/lb-zstd")" "$(res)" "$(ratio "$lbz" "$base") of pg_dump > /dev/null"
[ -n "${ZSTD_RESTORE:-}" ] || rm -rf "$work/lb-zstd"
# Every backup is taken: the source is not needed any more.
"$BIN/dropdb" agents

"$BIN/createdb" r1
psql_restore=$(t sh -c "gunzip -c '$work/dump.sql.gz' | '$BIN/psql' -q -d r1")
row "gunzip \| psql restore" "$psql_restore" "-" "-" "-"
"$BIN/dropdb" r1
rm -f "$work/dump.sql.gz"
set_file=$(ls "$work"/lb-gzip/*.tar)
pgr_runs=() lbr_runs=() lbr_user=() lbr_sys=() lbr_rss=0 lbr_disk=0
for i in $(seq "$RESTORE_RUNS"); do
  # One restored copy on disk at a time; the last r3 stays for the --clean
  # row, which restores over it.
  [ "$i" = 1 ] || "$BIN/dropdb" r3
  "$BIN/createdb" r2
  pgr_runs+=("$(t "$BIN/pg_restore" -j "$JOBS" -d r2 "$work/dump.fc")")
  "$BIN/dropdb" r2
  tl "$work/data" "$LB" restore "$set_file" --to "$(url r3)" --create-db --jobs "$JOBS" --force --quiet
  lbr_runs+=("$wall") lbr_user+=("$user") lbr_sys+=("$sys")
  if [ "$rss" -gt "$lbr_rss" ]; then lbr_rss=$rss; fi
  if [ "$disk" -gt "$lbr_disk" ]; then lbr_disk=$disk; fi
done
rm -f "$work/dump.fc"
pgr=$(median "${pgr_runs[@]}")
lbr=$(median "${lbr_runs[@]}")
row "pg_restore -j$JOBS (into an empty database; median of ${pgr_runs[*]})" "$pgr" "-" "-" "-"
rss=$lbr_rss disk=$lbr_disk
row "**lifeboat restore --create-db -j$JOBS** (hashes, row counts; median of ${lbr_runs[*]})" "$lbr" "-" "$(res)" "$(ratio "$lbr" "$pgr") of pg_restore -j$JOBS, $(ratio "$lbr" "$psql_restore") of gunzip\|psql"
lbr_gb=$(per_gb "$lbr")
lbr_cpu_gb="$(per_gb "$(median "${lbr_user[@]}")") user, $(per_gb "$(median "${lbr_sys[@]}")") system"
# In place over a database that holds the same data (r3): --clean swaps a
# copy built beside it, which leaves r3 full for the next run. Without the
# safety backup, which pg_restore has no counterpart of. Medians too: the
# server's autovacuum may be reading the database being replaced, fresh
# from the run before, in one run and not in another.
lbc_runs=() lbc_rss=0 lbc_disk=0
for i in $(seq "$RESTORE_RUNS"); do
  tl "$work/data" "$LB" restore "$set_file" --to "$(url r3)" --clean --jobs "$JOBS" --force --no-safety-backup --quiet
  lbc_runs+=("$wall")
  if [ "$rss" -gt "$lbc_rss" ]; then lbc_rss=$rss; fi
  if [ "$disk" -gt "$lbc_disk" ]; then lbc_disk=$disk; fi
done
lbc=$(median "${lbc_runs[@]}")
rss=$lbc_rss disk=$lbc_disk
row "**lifeboat restore --clean -j$JOBS** over a full database (in place, no safety backup; median of ${lbc_runs[*]})" "$lbc" "-" "$(res)" "$(ratio "$lbc" "$pgr") of pg_restore -j$JOBS"
"$BIN/dropdb" r3
if [ -n "${ZSTD_RESTORE:-}" ]; then
  tl "$work/data" "$LB" restore "$(ls "$work"/lb-zstd/*.tar)" --to "$(url r4)" --create-db --jobs "$JOBS" --force --quiet
  row "**lifeboat restore --create-db -j$JOBS** of the zstd set" "$wall" "-" "$(res)" "$(ratio "$wall" "$pgr") of pg_restore -j$JOBS"
  "$BIN/dropdb" r4
  rm -rf "$work/lb-zstd"
fi
rm -rf "$work/lb-gzip"

if [ "$SQLITE_SCALE" != 0 ]; then
  sqlite3 -cmd ".parameter set @scale $SQLITE_SCALE" "$work/agent.db" < tests/fixtures/agent_sqlite.sql >/dev/null
  sq_size=$(size "$work/agent.db")
  # Medians too, the anchor and lifeboat taking turns.
  sq_runs=() lbs_runs=() lbs_rss=0 lbs_disk=0
  for i in $(seq "$BACKUP_RUNS"); do
    rm -f "$work/copy.db" "$work/copy.db.gz"
    sq_runs+=("$(t sh -c "sqlite3 '$work/agent.db' \".backup '$work/copy.db'\" && gzip -6 -c '$work/copy.db' > '$work/copy.db.gz' && sha256sum '$work/copy.db.gz' > '$work/copy.db.gz.sha256'")")
    rm -rf "$work/lb-sqlite" && mkdir -p "$work/lb-sqlite"
    tl "$work/lb-sqlite" "$LB" backup "$work/agent.db" --out "$work/lb-sqlite" --quiet
    lbs_runs+=("$wall")
    if [ "$rss" -gt "$lbs_rss" ]; then lbs_rss=$rss; fi
    if [ "$disk" -gt "$lbs_disk" ]; then lbs_disk=$disk; fi
  done
  sq=$(median "${sq_runs[@]}") lbs=$(median "${lbs_runs[@]}")
  row "sqlite3 .backup + gzip + sha256sum (median of ${sq_runs[*]})" "$sq" "$(size "$work/copy.db.gz")" "-" "-"
  rss=$lbs_rss disk=$lbs_disk
  row "**lifeboat backup** SQLite (integrity_check, digests; median of ${lbs_runs[*]})" "$lbs" "$(size "$work/lb-sqlite")" "$(res)" "$(ratio "$lbs" "$sq")"
  sqr_runs=() lbsr_runs=() lbsr_rss=0 lbsr_disk=0
  mkdir -p "$work/sq-out"
  for i in $(seq "$RESTORE_RUNS"); do
    rm -f "$work/restored.db"
    sqr_runs+=("$(t sh -c "gunzip -c '$work/copy.db.gz' > '$work/restored.db' && sqlite3 '$work/restored.db' 'PRAGMA integrity_check'")")
    rm -f "$work/sq-out/lb-restored.db"
    tl "$work/sq-out" "$LB" restore "$(ls "$work"/lb-sqlite/*.tar)" --to "$work/sq-out/lb-restored.db" --quiet
    lbsr_runs+=("$wall")
    if [ "$rss" -gt "$lbsr_rss" ]; then lbsr_rss=$rss; fi
    if [ "$disk" -gt "$lbsr_disk" ]; then lbsr_disk=$disk; fi
  done
  sqr=$(median "${sqr_runs[@]}") lbsr=$(median "${lbsr_runs[@]}")
  row "gunzip + sqlite3 integrity_check (median of ${sqr_runs[*]})" "$sqr" "-" "-" "-"
  rss=$lbsr_rss disk=$lbsr_disk
  row "**lifeboat restore** SQLite (hashes, integrity_check, digests; median of ${lbsr_runs[*]})" "$lbsr" "-" "$(res)" "$(ratio "$lbsr" "$sqr")"
else
  sq_size="-"
fi

# What it costs this machine to grow the page cache by the database's size,
# without PostgreSQL or lifeboat: a restore's server must do as much. On a
# virtual machine whose host takes back freed memory, the first gigabytes
# come cheap and the rest costs several times more per GB, whoever writes.
page_cache_probe=$(python3 - "$work/probe" "$db_bytes" <<'PY'
import os, sys
path, total = sys.argv[1], max(int(sys.argv[2]), 1 << 29)
block, first = b"\0" * 8192, 1 << 29
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
t0 = os.times().system
written = 0
while written < total:
    os.write(fd, block)
    written += len(block)
    if written == first:
        t1 = os.times().system
t2 = os.times().system
os.close(fd)
os.unlink(path)
print(f"{(t1 - t0) / (first / 1e9):.1f} s/GB of system CPU for the first 0.5 GB, "
      f"{(t2 - t0) / (written / 1e9):.1f} s/GB over {written / 1e9:.1f} GB")
PY
)
echo "PostgreSQL $("$BIN/postgres" --version | awk '{print $3}'), agent_platform scale $PG_SCALE ($db_size); SQLite scale $SQLITE_SCALE ($sq_size); $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "lifeboat per GB of database: backup $lb_gb, restore --create-db $lbr_gb (the whole machine's CPU meanwhile: $lbr_cpu_gb)"
echo "this machine writing new page cache (8 KB writes, as the server extends tables): $page_cache_probe"
echo "lifeboat backup peak extra disk / set size: gzip $(python3 -c "print(f'{$lb_disk*1e6/$lb_size:.2f}')")x, zstd $(python3 -c "print(f'{$lbz_disk*1e6/$lbz_size:.2f}')")x; peak RSS gzip $lb_rss MB, zstd $lbz_rss MB"
echo
echo "| command | wall | output | lifeboat peak | time ratio lifeboat/anchor |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
