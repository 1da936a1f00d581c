#!/usr/bin/env bash
# Run every end-to-end test file (real Envoys, real traffic on 127.0.0.1) N times in a
# row and stop at the first failure: the flake check behind "no flakes in ten runs".
#   scripts/e2e-repeat.sh [N]     (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-10}"
envoy="$(scripts/envoy.sh)"
export MESHC_ENVOY="$envoy"
files=()
for f in tests/e2e_*.rs; do
  files+=(--test "$(basename "$f" .rs)")
done
cargo test --quiet "${files[@]}" --no-run
for i in $(seq "$runs"); do
  start=$(date +%s)
  if ! out="$(cargo test --quiet "${files[@]}" 2>&1)"; then
    echo "run $i of $runs FAILED:"
    echo "$out"
    exit 1
  fi
  passed=$(echo "$out" | grep -o "[0-9]* passed" | awk '{s+=$1} END {print s}')
  echo "run $i of $runs: $passed passed ($(($(date +%s) - start))s)"
done
