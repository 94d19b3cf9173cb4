#!/usr/bin/env bash
# What the browser tests need besides the stack (make test runs it; make run
# does not): Debian's Chromium, and axe-core from npm (tests/e2e/axe, its
# lockfile committed). Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-browser: $1 is missing and this is not a Debian/Ubuntu system; install it yourself, then run make test again." >&2
    exit 1
  fi
  echo "setup-browser: installing $* with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

# 1. Chromium (HARMONIA_CHROMIUM names another one)
if [ -z "${HARMONIA_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  apt_install chromium
fi

# 2. axe-core, as the lockfile says
stamp=tests/e2e/axe/node_modules/.lock-hash
want="$(sha256sum tests/e2e/axe/package-lock.json | cut -d' ' -f1)"
if [ ! -f tests/e2e/axe/node_modules/axe-core/axe.min.js ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  command -v npm >/dev/null 2>&1 || apt_install npm
  echo "setup-browser: npm ci in tests/e2e/axe (axe-core)"
  npm ci --prefix tests/e2e/axe --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" > "$stamp"
fi
