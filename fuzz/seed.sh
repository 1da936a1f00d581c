#!/usr/bin/env bash
# Fill fuzz/corpus/validate/ with the project's YAML (examples/, testdata/) and a
# small synthetic mesh, as the fuzzer's starting corpus. Safe to re-run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
corpus="$root/fuzz/corpus/validate"
mkdir -p "$corpus"
n=0
for dir in examples testdata; do
  [ -d "$root/$dir" ] || continue
  while IFS= read -r -d '' f; do
    # Flatten the path into a unique file name.
    rel="${f#"$root"/}"
    cp "$f" "$corpus/$(printf '%s' "$rel" | tr '/' '_')"
    n=$((n + 1))
  done < <(find "$root/$dir" -type f \( -name '*.yaml' -o -name '*.yml' \) -print0)
done
# A small generated mesh (one file per resource group) when meshc-synth is built.
synth="${MESHC_SYNTH:-}"
if [ -z "$synth" ]; then
  # The fuzz build has a target dir of its own: also look in the usual one, where
  # `cargo test` (scripts/test.sh) builds meshc-synth.
  for t in "${CARGO_TARGET_DIR:-$root/target}"/{release,debug}/meshc-synth "$root"/target/{release,debug}/meshc-synth; do
    [ -x "$t" ] && synth="$t" && break
  done
fi
if [ -n "$synth" ]; then
  tmp="$(mktemp -d)"
  "$synth" --services 6 --dataplanes-per-service 1 --zones 2 --form mixed --out "$tmp/mesh" > /dev/null
  while IFS= read -r -d '' f; do
    rel="${f#"$tmp"/}"
    cp "$f" "$corpus/synth_$(printf '%s' "$rel" | tr '/' '_')"
    n=$((n + 1))
  done < <(find "$tmp/mesh" -type f -name '*.yaml' -print0)
  rm -rf "$tmp"
fi
echo "$n seed files in $corpus"
