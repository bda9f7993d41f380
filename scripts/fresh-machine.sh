#!/usr/bin/env bash
# Proves .ci/run's install path where none of its packages is present: a
# Debian bookworm chroot made by debootstrap from Debian's own archive, once
# as root and once as an ordinary user with passwordless sudo. Not part of
# `cargo test`; run it as root on a Debian or Ubuntu machine:
#
#   apt-get install debootstrap
#   scripts/fresh-machine.sh              # install only, as root and as a sudo user
#   scripts/fresh-machine.sh --full       # and run the whole suite in each chroot
#   scripts/fresh-machine.sh --only sudo  # one of the two
#
# The chroots are made under $FRESH_DIR (default /var/tmp/lifeboat-fresh)
# and removed at the end unless KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

full=""
modes=(root sudo)
while [ $# -gt 0 ]; do
  case "$1" in
    --full) full=1 ;;
    --only) shift; modes=("$1") ;;
    *) echo "usage: $0 [--full] [--only root|sudo]" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "$0: debootstrap and chroot need root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "$0: install debootstrap (apt-get install debootstrap)" >&2; exit 1; }

dir=${FRESH_DIR:-/var/tmp/lifeboat-fresh}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  if [ -z "${KEEP:-}" ]; then rm -rf --one-file-system "$dir"; fi
}
trap cleanup EXIT
mkdir -p "$dir"

# One pristine base, copied for each run so neither sees the other's installs.
if [ ! -x "$dir/base/bin/bash" ]; then
  echo "== debootstrap bookworm (minbase) into $dir/base"
  rm -rf "$dir/base"
  debootstrap --variant=minbase bookworm "$dir/base" "$mirror" >"$dir/debootstrap.log" 2>&1 ||
    { tail -20 "$dir/debootstrap.log" >&2; exit 1; }
fi

# What .ci/run installs must be absent at the start, or the run proves nothing.
for pkg in sqlite3 musl-tools file openssl zstd qemu-user-static postgresql python3-pip git curl gcc sudo; do
  if chroot "$dir/base" dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    echo "$0: $pkg is already in the base chroot" >&2
    exit 1
  fi
done

status=0
for mode in "${modes[@]}"; do
  root="$dir/$mode"
  echo "== $mode: copying the base and the checkout"
  rm -rf "$root"
  cp -a "$dir/base" "$root"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  # A machine behind a TLS-inspecting proxy trusts its CA through
  # /usr/local/share/ca-certificates; the chroot is given the same, and
  # ca-certificates (installed by .ci/run) picks it up from there.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  fi
  # No services start inside a chroot (postgresql's postinst would try).
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod +x "$root/usr/sbin/policy-rc.d"
  for m in proc sys dev dev/pts; do
    mount --bind "/$m" "$root/$m"
    mounted+=("$root/$m")
  done
  mkdir -p "$root/src"
  git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$root/src"

  step=(.ci/run --install-only)
  if [ -n "$full" ]; then step=(.ci/run); fi
  if [ "$mode" = root ]; then
    run=(chroot "$root" env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
      bash -c 'cd /src && "$@"' - "${step[@]}")
  else
    # sudo itself is the one thing a sudo user's machine has; its package
    # lists are removed again so .ci/run starts from none.
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sudo >/dev/null
    rm -rf "$root"/var/lib/apt/lists/*
    chroot "$root" useradd --create-home --shell /bin/bash dev
    echo 'dev ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/dev"
    chroot "$root" chown -R dev: /src
    run=(chroot "$root" env -i PATH=/usr/local/bin:/usr/bin:/bin
      sudo -u dev -H bash -c 'cd /src && "$@"' - "${step[@]}")
  fi
  echo "== $mode: ${step[*]}"
  if "${run[@]}" >"$dir/$mode.log" 2>&1; then
    echo "== $mode: passed ($(tail -1 "$dir/$mode.log"))"
  else
    echo "== $mode: FAILED; the end of $dir/$mode.log:" >&2
    tail -30 "$dir/$mode.log" >&2
    status=1
  fi
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  mounted=()
done
exit $status
