#!/usr/bin/env bash
# Builds the static binaries the action ships in dist/ and their SHA256SUMS.
#   x86_64: musl-gcc from Debian's musl-tools (for the C in SQLite and zstd)
#   aarch64: cargo-zigbuild (crates.io) with zig from PyPI's ziglang
# Run after changing the code or the version, and commit dist/ with it:
# each binary's `--version` names the hash of the sources it was built from
# (build.rs), and tests/dist.rs fails when that is not this checkout's.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v musl-gcc >/dev/null || { echo "install musl-tools (apt-get install musl-tools)" >&2; exit 1; }
rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl >/dev/null
mkdir -p dist

CC_x86_64_unknown_linux_musl=musl-gcc \
  cargo build --locked --release --target x86_64-unknown-linux-musl
cp target/x86_64-unknown-linux-musl/release/lifeboat dist/lifeboat-x86_64-unknown-linux-musl

if ! command -v cargo-zigbuild >/dev/null; then cargo install --locked cargo-zigbuild; fi
if ! python3 -c 'import ziglang' 2>/dev/null; then pip install --quiet ziglang; fi
cargo zigbuild --locked --release --target aarch64-unknown-linux-musl
cp target/aarch64-unknown-linux-musl/release/lifeboat dist/lifeboat-aarch64-unknown-linux-musl

strip dist/lifeboat-x86_64-unknown-linux-musl 2>/dev/null || true
(cd dist && sha256sum lifeboat-x86_64-unknown-linux-musl lifeboat-aarch64-unknown-linux-musl > SHA256SUMS)
cat dist/SHA256SUMS
dist/lifeboat-x86_64-unknown-linux-musl --version
