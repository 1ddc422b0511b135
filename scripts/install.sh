#!/usr/bin/env bash
# Builds the release binary and installs imgseal like a tool: the binary on PATH, a man page
# per command, and bash/zsh/fish completions where those shells look. Idempotent; run again
# after pulling to update. scripts/install-deps.sh runs it (so does the README's set-up).
#
#   scripts/install.sh                 install under /usr/local (PREFIX=/usr/local)
#   PREFIX=$HOME/.local scripts/install.sh   install for one user (put $PREFIX/bin on PATH)
#   scripts/install.sh --uninstall     remove what it installed
#   IMGSEAL_BINARY=PATH scripts/install.sh   install that binary instead of building one
#                                      (the Dockerfile's runtime stage)
#
# What goes where (PREFIX=/usr/local):
#   /usr/local/bin/imgseal
#   /usr/local/share/man/man1/imgseal.1, imgseal-COMMAND.1    (man imgseal-convert)
#   /usr/local/share/bash-completion/completions/imgseal       (bash-completion loads it)
#   /usr/local/share/zsh/site-functions/_imgseal               (in zsh's default fpath)
#   /usr/local/share/fish/vendor_completions.d/imgseal.fish    (fish's vendor directory)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
prefix=${PREFIX:-/usr/local}
log() { echo "install.sh: $*"; }

bin=$prefix/bin
man1=$prefix/share/man/man1
bash_dir=$prefix/share/bash-completion/completions
zsh_dir=$prefix/share/zsh/site-functions
fish_dir=$prefix/share/fish/vendor_completions.d

case "${1:-}" in
  --uninstall)
    sudo=""; [ -w "$prefix" ] || sudo=sudo
    $sudo rm -f "$bin/imgseal" "$man1"/imgseal.1 "$man1"/imgseal-*.1 \
      "$bash_dir/imgseal" "$zsh_dir/_imgseal" "$fish_dir/imgseal.fish"
    log "removed imgseal from $prefix"
    exit 0 ;;
  -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
  "") ;;
  *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac

if [ -n "${IMGSEAL_BINARY:-}" ]; then
  built=$IMGSEAL_BINARY
  [ -x "$built" ] || { echo "install.sh: IMGSEAL_BINARY=$built is not an executable file" >&2; exit 2; }
else
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
  command -v cargo >/dev/null || { echo "install.sh: no cargo on PATH; run scripts/install-deps.sh first" >&2; exit 2; }
  cd "$here"
  log "building the release binary (cargo build --release --locked)"
  cargo build --release --locked -q
  built=${CARGO_TARGET_DIR:-$here/target}/release/imgseal
fi

# Root writes /usr/local itself; anyone else needs sudo there (or a PREFIX of their own).
sudo=""
mkdir -p "$prefix" 2>/dev/null || true
[ -w "$prefix" ] || sudo=sudo
$sudo mkdir -p "$bin" "$man1" "$bash_dir" "$zsh_dir" "$fish_dir"
# Beside the final name, then renamed: a running imgseal keeps its (old) inode.
$sudo install -m 0755 "$built" "$bin/.imgseal.new"
$sudo mv -f "$bin/.imgseal.new" "$bin/imgseal"
$sudo "$bin/imgseal" manpages "$man1" >/dev/null
for s in bash:"$bash_dir/imgseal" zsh:"$zsh_dir/_imgseal" fish:"$fish_dir/imgseal.fish"; do
  f=${s#*:}
  "$bin/imgseal" completions "${s%%:*}" | $sudo tee "$f.new" >/dev/null
  $sudo chmod 0644 "$f.new"
  $sudo mv -f "$f.new" "$f"
done
# man -k / apropos see the new pages (man -w finds them without it).
command -v mandb >/dev/null && $sudo mandb -q "$prefix/share/man" 2>/dev/null || true
log "installed $("$bin/imgseal" --version) as $bin/imgseal, $(ls "$man1"/imgseal*.1 | wc -l) man pages, bash/zsh/fish completions"
case ":$PATH:" in *":$bin:"*) ;; *) log "note: $bin is not on PATH; add it to use 'imgseal'" ;; esac
