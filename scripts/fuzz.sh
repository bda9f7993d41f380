#!/usr/bin/env bash
# Fuzzes the set reader (scan, read_manifest, member streams, the sidecar
# parser, SetName::parse) and the PostgreSQL URL parser with its redaction,
# each target for SECONDS (default 180), one job at a time.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# The corpus is seeded with real sets made by the lifeboat binary: SQLite
# sets in every compression and, where PostgreSQL's server binaries are
# found, a PostgreSQL set from a throw-away cluster on a Unix socket.
# Findings land in fuzz/artifacts/<target>/; each one becomes a fix and a
# regression test in the normal suite. Needs cargo-fuzz (`cargo install
# cargo-fuzz`); on a stable toolchain RUSTC_BOOTSTRAP=1 lets it pass the
# flags it needs. Sanitizer none: the code under test is safe Rust, and the
# C it links (SQLite, zstd) is not what is fuzzed.
set -euo pipefail

seconds=${1:-180}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
fuzz="$root/fuzz"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(set_file member_stream manifest_json names_and_sidecar url)
fi
export RUSTC_BOOTSTRAP=1

echo "building lifeboat and the fuzz targets" >&2
(cd "$root" && cargo build --quiet)
lb="$root/target/debug/lifeboat"
(cd "$root" && cargo fuzz build -O -a -s none)

work=$(mktemp -d)
cluster=""
cleanup() {
    if [ -n "$cluster" ]; then
        run_pg "$pg_bin/pg_ctl" -D "$cluster/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# As root, PostgreSQL runs as the postgres user.
run_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

echo "seeding the corpus with real sets" >&2
sets="$work/sets"
mkdir -p "$sets"
sqlite3 "$work/app.db" "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, doc BLOB);
    INSERT INTO t (name, doc) SELECT 'row ' || value, randomblob(value % 50) FROM generate_series(1, 200);
    CREATE INDEX t_name ON t (name);" 2>/dev/null ||
    cp "$root/examples/demo.db" "$work/app.db"
for compression in gzip zstd none; do
    "$lb" backup "$work/app.db" --name "app-$compression" --compression "$compression" --out "$sets" --quiet >/dev/null
done
"$lb" backup "$root/examples/demo.db" --label seed --out "$sets" --quiet >/dev/null

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ]; then
    cluster="$work/pg"
    mkdir -p "$cluster"
    [ "$(id -u)" = 0 ] && chown postgres "$cluster" && chmod 711 "$work"
    run_pg "$pg_bin/initdb" -D "$cluster/data" -U postgres -A trust >/dev/null
    run_pg "$pg_bin/pg_ctl" -D "$cluster/data" -o "-c listen_addresses='' -c unix_socket_directories='$cluster'" -w start >/dev/null
    psql=("$pg_bin/psql" -X -q -h "$cluster" -U postgres)
    "${psql[@]}" -d postgres -c "CREATE DATABASE shop"
    "${psql[@]}" -d shop -c "CREATE TABLE customer (id serial PRIMARY KEY, name text NOT NULL, note jsonb);
        CREATE TABLE \"order\" (id bigserial PRIMARY KEY, customer int REFERENCES customer, total numeric(10,2), at timestamptz DEFAULT now());
        CREATE VIEW big_orders AS SELECT * FROM \"order\" WHERE total > 100;
        INSERT INTO customer (name, note) SELECT 'c' || g, jsonb_build_object('g', g) FROM generate_series(1, 300) g;
        INSERT INTO \"order\" (customer, total) SELECT 1 + g % 300, g * 1.5 FROM generate_series(1, 1000) g;
        COMMENT ON TABLE customer IS 'who buys';"
    for compression in gzip zstd; do
        "$lb" backup "postgresql://postgres@/shop?host=$cluster" --name "shop-$compression" \
            --compression "$compression" --out "$sets" --quiet >/dev/null
    done
else
    echo "no PostgreSQL server binaries: the corpus holds SQLite sets only" >&2
fi

seed() { # target file name
    mkdir -p "$fuzz/corpus/$1"
    cp "$2" "$fuzz/corpus/$1/seed-$3"
}
n=0
for set in "$sets"/*.tar; do
    n=$((n + 1))
    seed set_file "$set" "set-$n"
    seed names_and_sidecar "$set.sha256" "sidecar-$n"
    basename "$set" >"$work/name" && seed names_and_sidecar "$work/name" "name-$n"
    mkdir -p "$work/x$n" && tar -xf "$set" -C "$work/x$n"
    seed manifest_json "$work/x$n/manifest.json" "manifest-$n"
    m=0
    while IFS= read -r member; do
        m=$((m + 1))
        # The first byte chooses the decoder: 0 gzip, 1 zstd, 2 none.
        case "$member" in
            *.gz) head=0 ;;
            *.zst) head=1 ;;
            *) head=2 ;;
        esac
        { printf "\\$(printf '%03o' "$head")"; head -c 65536 "$work/x$n/$member"; } >"$work/member"
        seed member_stream "$work/member" "member-$n-$m"
    done < <(cd "$work/x$n" && find . -type f ! -name manifest.json ! -name RESTORE.md | sed 's|^\./||')
done
i=0
for url in 'postgres://app:s3cret@db.example:5432/shop?sslmode=require' \
    'postgresql+asyncpg://u:p%40ss%2Fw@h1,h2:5433/db?application_name=x&password=zz' \
    'postgres://u:pa/ss@h/db' 'postgres://[::1]:5432/db?user=u&password=pw' \
    'postgres://u:a b?c@h/db' 'postgres://%aé@h/db' 'postgres:///db?host=/run/postgresql'; do
    i=$((i + 1))
    printf '%s' "$url" >"$work/url" && seed url "$work/url" "url-$i"
done

status=0
for target in "${targets[@]}"; do
    echo "fuzzing $target for ${seconds}s" >&2
    mkdir -p "$fuzz/artifacts/$target"
    # One process (no -jobs/-fork): the machine is shared. -rss_limit_mb
    # bounds memory: whatever a set claims, reading it must stay well under
    # it. -timeout makes a hang (one input over 10s) a finding.
    if ! (cd "$root" && cargo fuzz run -O -a -s none "$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=1024 -malloc_limit_mb=512 \
        -timeout=10 -max_len=262144 -print_final_stats=1 \
        -artifact_prefix="$fuzz/artifacts/$target/"); then
        echo "$target: a finding, in fuzz/artifacts/$target/" >&2
        status=1
    fi
done
exit $status
