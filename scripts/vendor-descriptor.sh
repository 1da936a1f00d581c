#!/usr/bin/env bash
# Regenerate assets/envoy-types-<version>.desc: the FileDescriptorSet that
# envoy-types ships as src/generated/types.bin, with source_code_info stripped.
# Run it after changing the pinned envoy-types version in Cargo.toml (then rename
# the asset and ENVOY_TYPES_VERSION in src/emit/descriptor.rs to match).
set -euo pipefail
cd "$(dirname "$0")/.."

manifest="$(cargo metadata --format-version 1 --locked \
  | python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="envoy-types"))')"
export MESHC_TYPES_BIN="$(dirname "$manifest")/src/generated/types.bin"
test -s "$MESHC_TYPES_BIN" || { echo "error: $MESHC_TYPES_BIN not found" >&2; exit 1; }
cargo test --locked --lib emit::descriptor::tests::regenerate_vendored_descriptor -- --ignored --exact
ls -l assets/envoy-types-*.desc
