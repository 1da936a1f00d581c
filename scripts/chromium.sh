#!/usr/bin/env bash
# Install Chromium for meshc's browser tests and print the path of its binary.
#
# `meshc report` writes one self-contained HTML file; its tests open it in headless Chromium
# (tests/common/chromium.rs) to check what it renders and that it requests nothing. The
# browser is Debian's `chromium` package, installed with apt-get (with sudo when not root).
#
# Idempotent: when Chromium is there it only prints the path (well under a second). Progress
# and errors go to stderr; stdout is exactly the binary's path.
#
# Environment: MESHC_CHROMIUM, when set, names the binary to use instead (any Chromium or
# Google Chrome build); it is checked, never installed.
set -euo pipefail
cd "$(dirname "$0")/.."

default="/usr/bin/chromium"

# A working binary answers --version with its name. Debian's launcher script may print a
# harmless shell warning on stderr, so only stdout counts.
usable() {
  [ -x "$1" ] && "$1" --version 2>/dev/null | grep -Eq '^(Chromium|Google Chrome) '
}

if [ -n "${MESHC_CHROMIUM:-}" ]; then
  if usable "$MESHC_CHROMIUM"; then
    echo "$MESHC_CHROMIUM"
    exit 0
  fi
  echo "scripts/chromium.sh: MESHC_CHROMIUM=$MESHC_CHROMIUM is not a working Chromium ('$MESHC_CHROMIUM --version' fails); unset it to install Debian's chromium package" >&2
  exit 1
fi

if usable "$default"; then
  echo "$default"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "scripts/chromium.sh: $default is missing and apt-get is not available; install Chromium and set MESHC_CHROMIUM to its binary" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "scripts/chromium.sh: installing Chromium needs root: run 'apt-get install -y chromium' as root, or set MESHC_CHROMIUM" >&2
    exit 1
  fi
  sudo=(sudo)
fi

install() {
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >&2
}

echo "scripts/chromium.sh: installing Debian's chromium package (apt-get install chromium)" >&2
# The package lists may be missing or stale (a fresh container has none): update once, retry.
if ! install; then
  echo "scripts/chromium.sh: retrying after apt-get update" >&2
  "${sudo[@]}" apt-get update -q >&2
  install
fi

if ! usable "$default"; then
  echo "scripts/chromium.sh: the chromium package was installed but '$default --version' does not work (on Ubuntu, 'chromium' is a snap, which the tests cannot use: set MESHC_CHROMIUM to a Chromium or Google Chrome binary)" >&2
  exit 1
fi
echo "$default"
