#!/usr/bin/env bash
# A bounded fuzz run of every target (see fuzz/README.md), the time split between them:
#   scripts/fuzz.sh [SECONDS]      default 120 (60 s for `validate`, 60 s for `compile`)
# Installs cargo-fuzz from crates.io when it is missing. cargo-fuzz needs nightly
# compiler flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-120}"
targets=(validate compile)
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
# The fuzz build uses its own flags (sanitizers): keep it out of the main target dir.
export CARGO_TARGET_DIR="${MESHC_FUZZ_TARGET_DIR:-$PWD/fuzz/target}"
fuzz/seed.sh
# Build every target first (one build, shared dependencies), so that the time below
# is spent fuzzing.
cargo fuzz build
each=$((seconds / ${#targets[@]}))
[ "$each" -ge 10 ] || each=10
for target in "${targets[@]}"; do
  echo "== fuzz $target (${each}s)"
  cargo fuzz run "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$each" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
