#!/usr/bin/env bash
# Installs what the local stack needs; safe to run again (it only does what is
# missing). Redis comes from Debian/Ubuntu packages; Mailpit and the pinned
# Dapr runtime are built with the Go toolchain into .bin/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/.bin"
MAILPIT_VERSION=v1.33.1
DAPR_VERSION=1.18.1
mkdir -p "$BIN"
t0=$(date +%s)

# 1. Redis (the pub/sub broker).
if ! command -v redis-server >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing redis-server with apt-get"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
  else
    echo "setup: redis-server is missing and this is not a Debian/Ubuntu system." >&2
    echo "       Install Redis 7 with your package manager (e.g. 'brew install redis'), then run make setup again." >&2
    exit 1
  fi
fi

# 2. Mailpit (SMTP on :1025, UI on :8025).
# (the module version recorded in the binary; 'mailpit version' says "dev" and goes online)
if [ ! -x "$BIN/mailpit" ] || ! go version -m "$BIN/mailpit" 2>/dev/null | grep -qE "^\s+mod\s+github.com/axllent/mailpit\s+${MAILPIT_VERSION}\s"; then
  echo "setup: installing Mailpit ${MAILPIT_VERSION} into .bin/"
  GOBIN="$BIN" go install "github.com/axllent/mailpit@${MAILPIT_VERSION}"
fi

# 3. The Dapr runtime, rebuilt only when missing or when tools/dapr/go.sum changed.
stamp="$BIN/.dapr-build"
want="${DAPR_VERSION} $(sha256sum tools/dapr/go.sum | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
missing=0
for b in daprd placement scheduler sentry; do [ -x "$BIN/$b" ] || missing=1; done
if [ "$missing" = 1 ] || [ "$have" != "$want" ]; then
  echo "setup: building Dapr ${DAPR_VERSION} (daprd, placement, scheduler, sentry) into .bin/ — the first build takes several minutes"
  go -C tools/dapr build -tags allcomponents \
    -ldflags "-X github.com/dapr/dapr/pkg/buildinfo.version=${DAPR_VERSION}" \
    -o "$BIN/" github.com/dapr/dapr/cmd/daprd github.com/dapr/dapr/cmd/placement \
    github.com/dapr/dapr/cmd/scheduler github.com/dapr/dapr/cmd/sentry
  echo "$want" > "$stamp"
fi
"$BIN/daprd" --version | grep -qx "${DAPR_VERSION}" || { echo "setup: .bin/daprd is not ${DAPR_VERSION}" >&2; exit 1; }

# 4. The launcher.
go build -o "$BIN/devstack" ./cmd/devstack
echo "setup: ready in $(( $(date +%s) - t0 ))s (redis-server $(redis-server --version | awk '{print $3}'), mailpit ${MAILPIT_VERSION}, dapr ${DAPR_VERSION})"
