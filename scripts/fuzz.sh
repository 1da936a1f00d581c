#!/usr/bin/env bash
# A bounded fuzz run of the `validate` target (see fuzz/README.md):
#   scripts/fuzz.sh [SECONDS]      default 60
# Installs cargo-fuzz from crates.io when it is missing. cargo-fuzz needs nightly
# compiler flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
# The fuzz build uses its own flags (sanitizers): keep it out of the main target dir.
export CARGO_TARGET_DIR="${MESHC_FUZZ_TARGET_DIR:-$PWD/fuzz/target}"
fuzz/seed.sh
cargo fuzz run validate fuzz/corpus/validate -- \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
