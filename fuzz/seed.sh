#!/usr/bin/env bash
# Fill the fuzzers' starting corpora from the project's YAML. Safe to re-run.
#   fuzz/corpus/validate/  every *.yaml / *.yml of examples/ and testdata/, one per file,
#                          and a small synthetic mesh (when meshc-synth is built)
#   fuzz/corpus/compile/   the same files, plus whole worlds: every golden case's
#                          input/ and every example directory, and the synthetic mesh,
#                          each as ONE input whose files are joined by NUL bytes (the
#                          `compile` target splits its input on NUL into files)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
validate="$root/fuzz/corpus/validate"
compile="$root/fuzz/corpus/compile"
mkdir -p "$validate" "$compile"
n=0
w=0
for dir in examples testdata; do
  [ -d "$root/$dir" ] || continue
  while IFS= read -r -d '' f; do
    # Flatten the path into a unique file name.
    rel="${f#"$root"/}"
    name="$(printf '%s' "$rel" | tr '/' '_')"
    cp "$f" "$validate/$name"
    cp "$f" "$compile/$name"
    n=$((n + 1))
  done < <(find "$root/$dir" -type f \( -name '*.yaml' -o -name '*.yml' \) -print0)
done

# One world: the YAML files under $1 (sorted), joined by NUL, into $2.
join_world() {
  local dir="$1" out="$2" first=1
  : > "$out"
  while IFS= read -r -d '' f; do
    [ "$first" = 1 ] || printf '\0' >> "$out"
    first=0
    cat "$f" >> "$out"
  done < <(find "$dir" -type f \( -name '*.yaml' -o -name '*.yml' \) -print0 | sort -z)
  [ -s "$out" ] || rm -f "$out"
}
while IFS= read -r -d '' input; do
  rel="${input#"$root"/}"
  join_world "$input" "$compile/world_$(printf '%s' "$rel" | tr '/' '_')"
  w=$((w + 1))
done < <(find "$root/testdata" -type d -name input -print0)
for ex in "$root"/examples/*/; do
  [ "$(basename "$ex")" = invalid ] && continue
  join_world "$ex" "$compile/world_examples_$(basename "$ex")"
  w=$((w + 1))
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
    cp "$f" "$validate/synth_$(printf '%s' "$rel" | tr '/' '_')"
    n=$((n + 1))
  done < <(find "$tmp/mesh" -type f -name '*.yaml' -print0)
  join_world "$tmp/mesh" "$compile/world_synth"
  w=$((w + 1))
  rm -rf "$tmp"
fi
echo "$n seed files in $validate; $n files and $w worlds in $compile"
