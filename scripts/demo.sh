#!/usr/bin/env bash
# Sets a fresh Debian 12 host up and runs imgseal's main job on the built-in demo image
# (the Debian 12 fixture built by scripts/make-test-images.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
scripts/install-deps.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
scripts/make-test-images.sh
demo=target/fixtures/debian12.qcow2
echo "demo.sh: imgseal inspect $demo"
./target/debug/imgseal inspect "$demo"
