#!/usr/bin/env bash
# The long fuzzing run of the parsers (tests/fuzz_parsers.rs): no panic on any input.
#   scripts/fuzz.sh [CASES]     (default 200000 cases per property; CI runs proptest's default)
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-200000}
start=$(date +%s)
PROPTEST_CASES=$cases cargo test --release --locked --test fuzz_parsers -- --test-threads=2
echo "fuzz.sh: $cases cases per property passed in $(( $(date +%s) - start )) s"
