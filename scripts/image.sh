#!/usr/bin/env bash
# scripts/image.sh - podroute's image, built here with podman, from locally
# built binaries, on a Debian 12 base made with debootstrap (no image
# registry is needed). The runtime stage is the Containerfile's own.
#
#   scripts/image.sh                      release binaries (built first), tag localhost/podroute/bgpd:dev
#   scripts/image.sh --binaries DIR       bgpd and bgpctl from DIR as they are (the tests: target/debug)
#   scripts/image.sh --tag NAME           another tag
#
# The base is cached: .cache/image/base-bookworm.tar (debootstrap, about
# 30 s once), imported as localhost/podroute/base:bookworm. podman runs with
# scripts/podman/containers.conf (runc, no ulimits), through CONTAINERS_CONF.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$REPO/.cache/image"
BASE_TAR="$CACHE/base-bookworm.tar"
BASE_IMAGE="localhost/podroute/base:bookworm"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
export CONTAINERS_CONF="$REPO/scripts/podman/containers.conf"

die() { echo "image.sh: error: $*" >&2; exit 1; }

binaries=""
tag="localhost/podroute/bgpd:dev"
while [ $# -gt 0 ]; do
  case "$1" in
    --binaries) binaries="${2:?--binaries needs a folder}"; shift 2 ;;
    --tag) tag="${2:?--tag needs a name}"; shift 2 ;;
    *) die "unknown argument $1 (--binaries DIR, --tag NAME)" ;;
  esac
done
[ "$(id -u)" -eq 0 ] || die "must be run as root (podman with the host's storage, debootstrap)"
command -v podman >/dev/null && command -v debootstrap >/dev/null \
  || die "needs podman and debootstrap: run scripts/setup.sh"

if [ -z "$binaries" ]; then
  (cd "$REPO" && cargo build --release --locked --quiet -p bgpd --bins)
  binaries="$REPO/target/release"
fi
for b in bgpd bgpctl; do
  [ -x "$binaries/$b" ] || die "$binaries/$b is not an executable"
done

mkdir -p "$CACHE"
if [ ! -s "$BASE_TAR" ]; then
  echo "image.sh: making the Debian 12 base with debootstrap ($MIRROR)"
  root="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$MIRROR" \
    >"$CACHE/debootstrap.log" 2>&1 || die "debootstrap failed; see $CACHE/debootstrap.log"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -cf "$BASE_TAR.part" . && mv "$BASE_TAR.part" "$BASE_TAR"
  rm -rf "$root"
  trap - EXIT
fi
if ! podman image exists "$BASE_IMAGE"; then
  podman import --quiet "$BASE_TAR" "$BASE_IMAGE" >/dev/null
fi

# The Containerfile's runtime stage, on the local base, with the binaries
# from the build context instead of the build stage.
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp "$binaries/bgpd" "$binaries/bgpctl" "$context/"
{
  echo "FROM $BASE_IMAGE"
  sed -n '/^# runtime stage: begin$/,/^# runtime stage: end$/p' "$REPO/Containerfile" \
    | sed 's|^COPY --from=build /out/bgpd /out/bgpctl |COPY bgpd bgpctl |'
} >"$context/Containerfile"
grep -q '^COPY bgpd bgpctl ' "$context/Containerfile" \
  || die "the Containerfile's runtime stage has no COPY of the two binaries to rewrite"
podman build --quiet --tag "$tag" --file "$context/Containerfile" "$context" >/dev/null
echo "$tag"
