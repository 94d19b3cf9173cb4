# Harmonia — the two commands that matter are 'make run' and 'make test'.
SHELL := /bin/bash
GO    ?= go
PKGS_UNIT := ./internal/... ./apps/... ./cmd/...

.PHONY: setup run infra build test unit e2e test-postgres bench lint fmt docs clean

## setup: install Redis (apt), Mailpit and the pinned Dapr runtime into .bin/ (idempotent)
setup:
	@scripts/setup.sh

## run: the whole stack with seed data; Ctrl-C stops everything
run: setup
	@.bin/devstack

## infra: only Redis, Mailpit, Sentry, placement and scheduler, for 'dapr run -f .'
infra: setup
	@.bin/devstack -infra

build:
	$(GO) build ./...

## test: unit and handler tests, then the end-to-end suite against a real stack
test: setup lint unit e2e

unit:
	$(GO) test -race -count=1 $(PKGS_UNIT)

## e2e: black-box tests through the gateway (starts its own stack on a port offset),
## and the storage contract against real sidecars (SQLite, and PostgreSQL when one answers)
e2e: setup
	$(GO) test -count=1 -timeout 15m ./tests/e2e/... ./tests/contract/...

## test-postgres: the e2e suite with every state store on PostgreSQL (components/postgres)
test-postgres: setup
	@scripts/test-postgres.sh

## bench: the Dapr floor and the scenarios in one run; results in bench/results/
bench: setup
	$(GO) run ./tests/load/bench $(BENCH_FLAGS)

lint:
	@out=$$(gofmt -l apps internal cmd tests tools); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w apps internal cmd tests tools

## docs: regenerate docs/events.md from the event contracts (internal/events)
docs:
	$(GO) run ./cmd/eventsdoc

clean:
	rm -rf .data
