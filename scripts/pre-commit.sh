#!/usr/bin/env bash
# Install pre-commit (PyPI) for meshc's hook tests and print the path of its launcher.
#
# tests/integrations.rs runs the hooks of .pre-commit-hooks.yaml through a real
# pre-commit. Installed with pip into a private virtualenv under target/ so nothing
# outside the repository changes; idempotent (prints the path when it is there).
#
# Environment: MESHC_TOOLS (default: target/test-tools) is where the virtualenv lives.
set -euo pipefail
cd "$(dirname "$0")/.."

tools="${MESHC_TOOLS:-$PWD/target/test-tools}"
venv="$tools/pre-commit-venv"
launcher="$venv/bin/pre-commit"

if [ -x "$launcher" ] && "$launcher" --version >/dev/null 2>&1; then
  echo "$launcher"
  exit 0
fi
python="$(command -v python3 || true)"
if [ -z "$python" ]; then
  echo "scripts/pre-commit.sh: python3 is needed to install pre-commit from PyPI; install Python 3 and run this script again" >&2
  exit 1
fi
echo "scripts/pre-commit.sh: installing pre-commit into $venv" >&2
rm -rf "$venv"
mkdir -p "$tools"
if ! "$python" -m venv "$venv" >/dev/null 2>&1 || [ ! -x "$venv/bin/pip" ]; then
  echo "scripts/pre-commit.sh: 'python3 -m venv' is not usable here (on Debian: apt-get install python3-venv)" >&2
  exit 1
fi
"$venv/bin/pip" install --disable-pip-version-check -q "pre-commit>=3,<5" >&2
"$launcher" --version >&2
echo "$launcher"
