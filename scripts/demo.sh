#!/usr/bin/env bash
# Sets a fresh Debian 12 host up and runs imgseal's main job on the built-in demo image:
# the Debian 12 fixture built by scripts/make-test-images.sh is checked, converted with the
# test vendor packages built beside it, and the sealed output verified. It uses the imgseal
# that scripts/install-deps.sh installed (scripts/install.sh: /usr/local/bin/imgseal).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
scripts/install-deps.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
scripts/make-test-images.sh
imgseal=${PREFIX:-/usr/local}/bin/imgseal
echo "demo.sh: $("$imgseal" --version) from $imgseal"
demo=target/fixtures/debian12.qcow2
out=target/demo/debian12-sealed.qcow2
mkdir -p target/demo
echo "demo.sh: imgseal check $demo"
"$imgseal" check --vendor-dir target/fixtures/vendor "$demo" || true
echo "demo.sh: imgseal convert $demo -o $out"
"$imgseal" convert --force --vendor-dir target/fixtures/vendor "$demo" -o "$out"
echo "demo.sh: imgseal verify $out"
"$imgseal" verify "$out"
