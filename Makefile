# Harmonia — the two commands that matter are 'make run' and 'make test'.
SHELL := /bin/bash
GO    ?= go
PKGS_UNIT := ./internal/... ./apps/... ./cmd/...

.PHONY: setup setup-browser run infra build test unit e2e test-postgres test-k8s test-faults test-faults-postgres images k8s bench bench-large bench-postgres lint fmt docs clean

## setup: install Redis (apt), Mailpit and the pinned Dapr runtime into .bin/ (idempotent)
setup:
	@scripts/setup.sh

## setup-browser: Chromium (apt) and axe-core (npm ci) for the browser tests in e2e
setup-browser:
	@scripts/setup-browser.sh

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

## e2e: black-box tests through the gateway (starts its own stack on a port offset), the
## web player in headless Chromium, and the storage contract against real sidecars
## (SQLite, and PostgreSQL when one answers)
e2e: setup setup-browser
	$(GO) test -count=1 -timeout 15m ./tests/e2e/... ./tests/contract/...

## test-postgres: the e2e suite with every state store on PostgreSQL (components/postgres)
test-postgres: setup setup-browser
	@scripts/test-postgres.sh

## test-faults: break the stack on purpose under load (apps, sidecars and Redis killed,
## processes frozen, events delivered twice) and check nothing was lost or doubled;
## FAULTS=all for the whole matrix; the table is .data/faults/report.md
test-faults: setup
	$(GO) test -count=1 -timeout 60m -v ./tests/faults/ 2>&1 | grep -vE '^=== (RUN|PAUSE|CONT)'; exit $${PIPESTATUS[0]}

## test-faults-postgres: the same on the PostgreSQL set (adds terminated database connections)
test-faults-postgres: setup
	@scripts/test-postgres.sh faults

## images: each app as an OCI image archive under .data/images/, built without Docker
images:
	$(GO) -C tools/images run . -root $(CURDIR) -out $(CURDIR)/.data/images

## k8s: regenerate the generated part of k8s/ from dapr.yaml, config/secure/ and components/
k8s:
	$(GO) run ./cmd/k8sgen

## test-k8s: the manifests against a real kube-apiserver + etcd with Dapr's CRDs and
## injector logic (the first run builds the API server into .bin/kube/, ~10 min)
test-k8s: images
	@scripts/build-kube.sh
	cd tests/k8s && TEST_ASSET_KUBE_APISERVER=$(CURDIR)/.bin/kube/kube-apiserver TEST_ASSET_ETCD=$(CURDIR)/.bin/kube/etcd \
		$(GO) test -count=1 -timeout 20m -v . 2>&1 | grep -vE '^=== (RUN|PAUSE|CONT)'; exit $${PIPESTATUS[0]}

## bench: the Dapr floor and the scenarios in one run; results in bench/results/
bench: setup
	$(GO) run ./tests/load/bench $(BENCH_FLAGS)

## bench-large: the floor, read, mix and search against the large catalogue (100,000 tracks; loading takes minutes)
bench-large: setup
	$(GO) run ./tests/load/bench -catalog large -scenarios floor,read,mix,search-index,suggest,search $(BENCH_FLAGS)

## bench-postgres: the same with every state store on PostgreSQL (recreates the database "harmonia")
bench-postgres: setup
	@BENCH_FLAGS="$(BENCH_FLAGS)" scripts/test-postgres.sh bench

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
