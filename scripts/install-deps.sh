#!/usr/bin/env bash
# Installs everything imgseal and its tests need on Debian 12 (bookworm), from nothing.
# Idempotent: a second run only checks. Used by the README, .ci/run and the Dockerfile.
#
#   scripts/install-deps.sh              build + test dependencies, then install imgseal
#                                        (scripts/install.sh: release binary in /usr/local/bin,
#                                        man pages, completions) and run `imgseal doctor` (an
#                                        appliance launch) so a broken set-up fails here
#   scripts/install-deps.sh --no-doctor  packages only (the Dockerfile's build stage)
#   scripts/install-deps.sh --runtime    only what the imgseal binary needs at run time
#                                        (qemu, libguestfs, a kernel): the Dockerfile's
#                                        runtime stage; implies --no-doctor
#   scripts/install-deps.sh --build      only what compiling imgseal needs (the Dockerfile's
#                                        build stage); implies --no-doctor
#
# IMGSEAL_APT_SNAPSHOT=YYYYMMDDTHHMMSSZ installs from snapshot.debian.org at that date
# (the Dockerfile pins it); if the snapshot service cannot be reached the script says so
# and uses the live archive.
set -euo pipefail

doctor=1
runtime=0
build=0
for a in "$@"; do
  case "$a" in
    --no-doctor) doctor=0 ;;
    --runtime) runtime=1; doctor=0 ;;
    --build) build=1; doctor=0 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown argument '$a' (see --help)" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")/.." && pwd)
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
log() { echo "install-deps.sh: $*"; }

. /etc/os-release
if [ "${VERSION_CODENAME:-}" != bookworm ]; then
  echo "install-deps.sh: this script targets Debian 12 (bookworm); found '${PRETTY_NAME:-unknown}'" >&2
  exit 2
fi

# --- apt sources --------------------------------------------------------------------------
snapshot=${IMGSEAL_APT_SNAPSHOT:-}
if [ -n "$snapshot" ]; then
  # apt's own downloader: a fresh Debian image has no curl yet.
  probe=$(mktemp)
  if /usr/lib/apt/apt-helper -o Acquire::http::Timeout=15 -o Acquire::Retries=0 download-file \
       "http://snapshot.debian.org/archive/debian/$snapshot/dists/bookworm/InRelease" "$probe" >/dev/null 2>&1; then
    rm -f "$probe"
    log "using the Debian archive as of $snapshot (snapshot.debian.org)"
    $sudo rm -f /etc/apt/sources.list.d/debian.sources
    cat <<EOF | $sudo tee /etc/apt/sources.list >/dev/null
deb [check-valid-until=no] http://snapshot.debian.org/archive/debian/$snapshot bookworm main
deb [check-valid-until=no] http://snapshot.debian.org/archive/debian/$snapshot bookworm-updates main
deb [check-valid-until=no] http://snapshot.debian.org/archive/debian-security/$snapshot bookworm-security main
deb [check-valid-until=no] http://snapshot.debian.org/archive/debian/$snapshot bookworm-backports main
EOF
  else
    rm -f "$probe"
    log "WARNING: snapshot.debian.org is unreachable; installing from the live archive instead of the $snapshot snapshot (not reproducible)"
  fi
fi
# qemu-utils on these hosts comes from bookworm-backports (10.x); qemu-system-x86 must come from
# the same suite, or apt refuses the pair. Pin only qemu (and the seabios it needs) to
# backports: `apt-get -t bookworm-backports` would take every new dependency from there too
# (libelf1 0.192), which then conflicts with bookworm's libdw1 (rpm) on a fresh system.
cat <<EOF | $sudo tee /etc/apt/preferences.d/imgseal-qemu >/dev/null
Package: src:qemu src:seabios
Pin: release n=bookworm-backports
Pin-Priority: 990
EOF
if ! grep -rqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "deb http://deb.debian.org/debian bookworm-backports main" |
    $sudo tee /etc/apt/sources.list.d/imgseal-bookworm-backports.list >/dev/null
fi
# Debian's cloud-init/rustc updates live in bookworm-security; a minimal image may lack it.
if ! grep -rqs 'bookworm-security' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "deb http://deb.debian.org/debian-security bookworm-security main" |
    $sudo tee /etc/apt/sources.list.d/imgseal-bookworm-security.list >/dev/null
fi

# --- packages -----------------------------------------------------------------------------
# Run time: qemu + libguestfs (the appliance) and a kernel for supermin to build it from.
# man-db and bash-completion: imgseal's man pages and completions work where it is installed.
# ntfs-3g: supermin puts it into the appliance, which reads and writes Windows volumes with it.
# (libguestfs0 brings every package its appliance is made of; guestfish and the virt-* tools
# are for the tests and for people, in build_pkgs, not in the container image.)
runtime_pkgs=(ca-certificates libguestfs0 linux-image-amd64 man-db bash-completion dosfstools mtools ovmf ntfs-3g)
# Compiling imgseal: a C toolchain, libguestfs's header and libclang for bindgen.
compile_pkgs=(ca-certificates curl build-essential pkg-config libguestfs-dev libclang-dev clang)
bpo_pkgs=(qemu-system-x86 qemu-utils qemu-block-extra)
# Build and test: libguestfs headers and libclang for bindgen, what
# scripts/make-test-images.sh needs (debootstrap, rpm/rpmbuild, dpkg-deb, mke2fs, sfdisk; cpio,
# the compressors and mkinitramfs for the initramfs fixtures; db_load of db5.3-util for the
# Berkeley DB rpm database; hivexregedit and wixl for the Windows hives and MSI), and
# junitparser, which the tests read `--junit` reports with (through /usr/bin/python3).
build_pkgs=(
  curl git build-essential pkg-config libguestfs-dev libclang-dev clang
  debootstrap rpm dpkg-dev fakeroot e2fsprogs dosfstools fdisk cpio zstd xz-utils gzip jq cryptsetup-bin
  initramfs-tools lz4 bzip2 db5.3-util libhivex-bin libwin-hivex-perl wixl msitools
  python3 python3-junitparser python3-venv hyperfine time
  slurm-wlm munge libguestfs-tools
  podman runc containernetworking-plugins
)
if [ "$build" -eq 1 ]; then
  pkgs=("${compile_pkgs[@]}")
else
  pkgs=("${runtime_pkgs[@]}")
  [ "$runtime" -eq 1 ] || pkgs+=("${build_pkgs[@]}")
fi

missing=()
for p in "${pkgs[@]}" "${bpo_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" "${bpo_pkgs[@]}" >/dev/null
fi

# supermin reads the host kernel; Debian ships it 0600, which breaks non-root appliance builds.
# (Compiling needs no appliance, so --build installs no kernel.)
if [ "$build" -eq 0 ]; then
  for k in /boot/vmlinuz-*; do [ -e "$k" ] && $sudo chmod 0644 "$k"; done
  ls /boot/vmlinuz-* >/dev/null 2>&1 || { echo "install-deps.sh: no kernel in /boot; supermin needs one" >&2; exit 1; }
fi

[ "$runtime" -eq 1 ] && exit 0

# kubernetes-validate (PyPI; not packaged for Debian) checks deploy/'s Kubernetes manifests
# against the Kubernetes schemas offline, in its own venv.
venv=/opt/imgseal-venv
if [ "$build" -eq 0 ] && [ ! -x "$venv/bin/kubernetes-validate" ]; then
  log "installing kubernetes-validate into $venv"
  $sudo python3 -m venv "$venv"
  $sudo "$venv/bin/pip" install -q kubernetes-validate
fi

# --- Rust ---------------------------------------------------------------------------------
# imgseal needs Rust >= 1.88 (edition 2024; sha2 0.11). Use the one on PATH or in ~/.cargo,
# else Debian's cargo-web/rustc-web (1.96 in bookworm-security), else rustup.
rust_ok() { command -v cargo >/dev/null 2>&1 && [ "$(rustc --version | awk '{split($2,v,"."); print (v[1]*1000+v[2] >= 1088)}')" = 1 ]; }
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
if ! rust_ok; then
  log "installing Rust (Debian's cargo-web/rustc-web/rustfmt-web)"
  $sudo apt-get install -y -qq --no-install-recommends -t bookworm-security cargo-web rustc-web rustfmt-web >/dev/null 2>&1 || true
fi
if ! rust_ok; then
  log "installing Rust with rustup-init from static.rust-lang.org"
  curl -fsSL -o /tmp/rustup-init https://static.rust-lang.org/rustup/dist/x86_64-unknown-linux-gnu/rustup-init
  chmod +x /tmp/rustup-init && /tmp/rustup-init -y --profile minimal -c rustfmt >/dev/null && rm -f /tmp/rustup-init
  export PATH="$HOME/.cargo/bin:$PATH"
fi
rust_ok || { echo "install-deps.sh: no Rust >= 1.88 could be installed" >&2; exit 1; }
if ! cargo fmt --version >/dev/null 2>&1; then
  if command -v rustup >/dev/null 2>&1; then rustup component add rustfmt >/dev/null; else
    $sudo apt-get install -y -qq --no-install-recommends -t bookworm-security rustfmt-web >/dev/null 2>&1 || true; fi
fi
log "$(cargo --version)"

if [ "$doctor" -eq 1 ]; then
  "$here/scripts/install.sh"
  log "imgseal doctor"
  "${PREFIX:-/usr/local}/bin/imgseal" doctor
fi
