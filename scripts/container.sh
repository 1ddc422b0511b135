#!/usr/bin/env bash
# Builds imgseal's container image with podman, from a Debian 12 base made here with
# debootstrap: no container registry is needed (none is reachable on the build hosts).
#
#   scripts/container.sh base                 debian:bookworm-local: `debootstrap --variant=minbase
#                                             bookworm` imported with `podman import` (kept: a
#                                             second run reuses it)
#   scripts/container.sh build [--binary PATH] [--tag TAG]
#                                             the base, then `podman build --isolation=chroot`
#                                             of the Dockerfile as TAG (default imgseal).
#                                             --binary: put this imgseal (built on this Debian 12
#                                             host from this source; stripped of debug info)
#                                             in the image instead of compiling it in the build
#                                             stage (what CI does: it has just built it)
#
# IMGSEAL_APT_SNAPSHOT=YYYYMMDDTHHMMSSZ is passed on as APT_SNAPSHOT (both stages install
# from snapshot.debian.org at that date; install-deps.sh says so when it cannot be reached).
#
# The base's archive date (the Release file's Date: debootstrap fetched) is the image label
# imgseal.base_snapshot and the build argument BASE_SNAPSHOT, so every manifest the image
# writes names it. When scripts/make-test-images.sh has cached its debootstrap tarball, the
# .debs in it seed debootstrap (it downloads only what they lack).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
log() { echo "container.sh: $*"; }
base=debian:bookworm-local
mirror=${IMGSEAL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$here/target/container
tmpd=
trap '[ -z "$tmpd" ] || rm -rf "$tmpd"' EXIT

make_base() {
  if podman image exists "$base"; then
    log "$base exists ($(podman image inspect -f '{{index .Labels "imgseal.base_snapshot"}}' "$base"))"
    return
  fi
  mkdir -p "$work"
  tmpd=$(mktemp -d "$work/base.XXXXXX")
  local d=$tmpd
  local seed
  seed=$(ls "${IMGSEAL_FIXTURES:-$here/target/fixtures}"/base-*.tar 2>/dev/null | head -1 || true)
  if [ -n "$seed" ]; then
    mkdir -p "$d/var/cache/apt/archives"
    tar -C "$d" -xf "$seed" --wildcards './var/cache/apt/archives/*.deb' 2>/dev/null || true
    log "seeding debootstrap with $(ls "$d"/var/cache/apt/archives/*.deb 2>/dev/null | wc -l) .debs from $seed"
  fi
  log "debootstrap --variant=minbase bookworm ($mirror)"
  debootstrap --variant=minbase bookworm "$d" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  local rel date snap
  rel=$(ls "$d"/var/lib/apt/lists/*_dists_bookworm_Release 2>/dev/null | head -1 || true)
  date=$( [ -n "$rel" ] && sed -n 's/^Date: //p' "$rel" | head -1 || true)
  if [ -n "$date" ]; then
    snap=$(date -u -d "$date" +%Y%m%dT%H%M%SZ)
  else
    snap=$(date -u +%Y%m%dT%H%M%SZ)
    log "no Release date in the debootstrapped root; recording the build time $snap"
  fi
  rm -rf "$d"/var/cache/apt/archives/*.deb "$d"/var/lib/apt/lists/* "$d"/var/log/bootstrap.log
  tar -C "$d" -c . | podman import --change "LABEL imgseal.base_snapshot=$snap" \
    --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
  rm -rf "$d"
  tmpd=
  log "$base imported (Debian archive of $snap)"
}

cmd=${1:-}
shift || true
case "$cmd" in
  base) make_base ;;
  build)
    tag=imgseal
    binary=
    while [ $# -gt 0 ]; do
      case "$1" in
        --binary) binary=$2; shift 2 ;;
        --tag) tag=$2; shift 2 ;;
        *) echo "container.sh: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
      esac
    done
    command -v podman >/dev/null || { echo "container.sh: podman is not installed (scripts/install-deps.sh installs it)" >&2; exit 2; }
    make_base
    snap=$(podman image inspect -f '{{index .Labels "imgseal.base_snapshot"}}' "$base")
    # Every build argument given (an empty one too: podman warns about a missing one).
    args=(--isolation=chroot --build-arg "BASE=$base" --build-arg "BASE_SNAPSHOT=$snap"
      --build-arg "APT_SNAPSHOT=${IMGSEAL_APT_SNAPSHOT:-}" -t "$tag")
    if [ -n "$binary" ]; then
      mkdir -p "$work"
      # Inside the build context (.dockerignore lets exactly this file through).
      objcopy --strip-debug "$binary" "$work/imgseal.new" && mv "$work/imgseal.new" "$work/imgseal"
      args+=(--build-arg PREBUILT=target/container/imgseal)
    else
      args+=(--build-arg PREBUILT=)
    fi
    log "podman build ${args[*]} ."
    podman build "${args[@]}" .
    log "$tag: $(podman image inspect -f '{{.Id}} {{.Size}}' "$tag" | awk '{printf "%s, %.0f MB", substr($1,1,12), $2/1e6}')"
    ;;
  *) sed -n '2,22p' "$0" >&2; exit 2 ;;
esac
