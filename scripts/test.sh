#!/usr/bin/env bash
# Runs every test from nothing: installs dependencies (and checks an appliance launches),
# builds the fixture images, then the unit and integration tests. What CI runs.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
scripts/install-deps.sh
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
scripts/make-test-images.sh
start=$(date +%s)
cargo fmt --all -- --check || { echo "test.sh: code is not formatted (cargo fmt)" >&2; exit 1; }
cargo test --locked --no-fail-fast -- --test-threads="${IMGSEAL_TEST_THREADS:-2}"
echo "test.sh: all tests passed in $(( $(date +%s) - start )) s"
