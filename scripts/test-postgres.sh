#!/usr/bin/env bash
# The end-to-end suite on the production-like component set: every state store
# (and the workflow store) on PostgreSQL instead of SQLite, the
# code unchanged. Needs a PostgreSQL server on 127.0.0.1:5432 that trusts the
# postgres user (CI machines have one); it recreates the database "harmonia".
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v psql >/dev/null 2>&1 || ! psql -h 127.0.0.1 -U postgres -qtAc 'select 1' >/dev/null 2>&1; then
  echo "test-postgres: no PostgreSQL on 127.0.0.1:5432 (user postgres); skipped" >&2
  exit 0
fi
psql -h 127.0.0.1 -U postgres -qc 'DROP DATABASE IF EXISTS harmonia WITH (FORCE)' -c 'CREATE DATABASE harmonia' >/dev/null
if [ "${1:-}" = "bench" ]; then
  # the benchmarks on the same set (make bench-postgres), the workflow
  # floor's store on PostgreSQL too
  exec go run ./tests/load/bench -resources-overlay components/postgres ${BENCH_FLAGS:-}
fi
if [ "${1:-}" = "faults" ]; then
  # the fault suite on the same set (make test-faults-postgres)
  HARMONIA_FAULTS_RESOURCES_OVERLAY=components/postgres go test -count=1 -timeout 60m -v ./tests/faults/ 2>&1 | grep -vE '^=== (RUN|PAUSE|CONT)'
  exit "${PIPESTATUS[0]}"
fi
HARMONIA_E2E_RESOURCES_OVERLAY=components/postgres go test -count=1 -timeout 15m ./tests/e2e/...
