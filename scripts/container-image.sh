#!/usr/bin/env bash
# Builds examples/Dockerfile without a Docker engine, with buildah (Debian:
# apt-get install buildah), and with --smoke runs the image's entrypoint
# (`/lifeboat schedule`) the way examples/Dockerfile documents it: a first
# backup at start, then SIGTERM, which must stop it cleanly.
#
#   scripts/container-image.sh [--tag TAG] [--storage DIR] [--smoke DATABASE]
#
# --storage keeps buildah's images and containers in DIR instead of
# /var/lib/containers (a test's own, removed with it).
# DATABASE is what LIFEBOAT_DATABASES takes (name=postgres://... on the
# host's loopback works: chroot isolation shares the host's network), with
# no password in it: a PGPASSWORD in this script's environment reaches the
# service as a Docker-style secret file (PGPASSWORD_FILE), never in argv. Needs
# root (vfs storage, chroot isolation: no daemon, no user namespaces) and
# dist/lifeboat-x86_64-unknown-linux-musl (scripts/build-dist.sh). Where no
# registry answers for the base stage's debian:bookworm-slim, a minimal
# bookworm made by debootstrap (apt-get install debootstrap) is imported
# under that name instead; it downloads about 40 MB from the Debian mirror.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=localhost/lifeboat:latest
smoke=""
storage=()
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag=$2; shift 2 ;;
    --smoke) smoke=$2; shift 2 ;;
    --storage) storage=(--root "$2/root" --runroot "$2/run"); shift 2 ;;
    *) echo "usage: $0 [--tag TAG] [--storage DIR] [--smoke DATABASE]" >&2; exit 2 ;;
  esac
done
command -v buildah >/dev/null || { echo "buildah is missing: apt-get install buildah" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run as root: vfs storage and chroot isolation need it" >&2; exit 1; }
target=x86_64-unknown-linux-musl
bin=dist/lifeboat-$target
[ -x "$bin" ] || { echo "$bin is missing: run scripts/build-dist.sh first" >&2; exit 1; }
(cd dist && grep " lifeboat-$target\$" SHA256SUMS | sha256sum --check --status) \
  || { echo "$bin does not match dist/SHA256SUMS" >&2; exit 1; }

bh() { buildah "${storage[@]}" --storage-driver vfs "$@"; }
work=$(mktemp -d /tmp/lifeboat-image.XXXXXX)
container=""
cleanup() {
  if [ -n "$container" ]; then bh rm "$container" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The base stage's image: pulled, or made from the Debian mirror.
base=docker.io/library/debian:bookworm-slim
if ! bh inspect --type image "$base" >/dev/null 2>&1 && ! bh pull --quiet "$base" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { echo "no registry answers for $base, and debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
  echo "no registry answers for $base: importing a debootstrap'd bookworm under that name"
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  scratch=$(bh from scratch)
  cp -a "$work/rootfs/." "$(bh mount "$scratch")/"
  bh config --cmd /bin/bash "$scratch"
  bh commit --quiet "$scratch" "$base" >/dev/null
  bh rm "$scratch" >/dev/null
  rm -rf "$work/rootfs"
fi

# A context of the binary alone: the Dockerfile copies nothing else, and
# the checkout's target/ would otherwise be walked.
mkdir -p "$work/context/dist"
cp "$bin" "$work/context/dist/"
bh bud --quiet --isolation chroot --build-arg "TARGET=$target" -f examples/Dockerfile -t "$tag" "$work/context" >/dev/null
echo "built $tag"
[ -n "$smoke" ] || exit 0

# The image's own entrypoint and command, with its user, workdir and
# environment; sets go to a host directory (not /data: buildah run gives
# an image's VOLUME a throw-away copy).
out="$work/backups"
mkdir -p "$out"
chown 65534:65534 "$out"
read -r -a entry <<<"$(bh inspect --type image --format '{{range .OCIv1.Config.Entrypoint}}{{.}} {{end}}{{range .OCIv1.Config.Cmd}}{{.}} {{end}}' "$tag")"
secret=()
if [ -n "${PGPASSWORD:-}" ]; then
  mkdir -p "$work/secrets"
  (umask 077 && printf '%s' "$PGPASSWORD" >"$work/secrets/pgpassword")
  chown -R 65534:65534 "$work/secrets"
  secret=(--volume "$work/secrets:/run/secrets:ro" --env PGPASSWORD_FILE=/run/secrets/pgpassword)
fi
container=$(bh from --pull-never "$tag")
bh run --isolation chroot --volume "$out:/backups" "${secret[@]}" \
  --env LIFEBOAT_OUT=/backups --env LIFEBOAT_CRON='0 2 * * *' --env LIFEBOAT_INITIAL=true \
  --env "LIFEBOAT_DATABASES=$smoke" \
  "$container" -- "${entry[@]}" >"$work/run.log" 2>&1 &
runner=$!
for _ in $(seq 120); do
  if compgen -G "$out/*.tar.sha256" >/dev/null || ! kill -0 "$runner" 2>/dev/null; then break; fi
  sleep 0.5
done
# buildah kills what it runs on SIGTERM; the service itself must get it,
# as `docker stop` gives it: the last process down the chain.
leaf=$runner
while child=$(pgrep -P "$leaf" | head -n 1) && [ -n "$child" ]; do leaf=$child; done
if [ "$leaf" != "$runner" ]; then kill -TERM "$leaf"; fi
status=0
wait "$runner" || status=$?
cat "$work/run.log"
if [ "$status" != 0 ] || ! grep -q "stopped by SIGTERM" "$work/run.log"; then
  echo "the service did not stop cleanly on SIGTERM (exit $status)" >&2
  exit 1
fi
sets=("$out"/*.tar)
[ -f "${sets[0]}" ] || { echo "the first backup wrote no set" >&2; exit 1; }
(cd "$out" && sha256sum --check -- *.tar.sha256)
echo "the image took a first backup and stopped cleanly on SIGTERM"
