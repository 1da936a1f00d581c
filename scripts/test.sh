#!/usr/bin/env bash
# Run meshc's whole test suite: unit tests, integration tests (CLI contract, hostile
# input, Kuma conformance fixtures, examples and their goldens) and doc tests.
#
# The SARIF output is checked against the official SARIF 2.1.0 JSON schema, which is
# fetched once from the npm registry (package @microsoft/jest-sarif ships it). Without
# npm that one check is skipped locally; in CI (CI=true) it is required.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${MESHC_TOOLS:-$PWD/target/test-tools}"
schema="$cache/sarif-2.1.0-rtm.5.json"
if [ ! -s "$schema" ] && command -v npm >/dev/null 2>&1; then
  mkdir -p "$cache"
  (
    cd "$cache"
    npm pack --silent @microsoft/jest-sarif@1.0.0-beta.0 >/dev/null
    tar xzf microsoft-jest-sarif-1.0.0-beta.0.tgz package/lib/schemas/sarif-2.1.0-rtm.5.json
    mv package/lib/schemas/sarif-2.1.0-rtm.5.json "$schema"
    rm -rf package microsoft-jest-sarif-1.0.0-beta.0.tgz
  )
fi
if [ -s "$schema" ]; then
  export MESHC_SARIF_SCHEMA="$schema"
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --locked --all-targets "$@" 2>&1 | tee "$log"
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
