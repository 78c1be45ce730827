# fifthwheel build and test. `make test` is the one test command: CI runs it
# (.ci/run) and so should you before pushing.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

# Tools are installed here, pinned, outside the module (gitignored).
BIN := $(CURDIR)/.bin
# staticcheck 2026.2.2 (module v0.8.2) supports Go 1.26.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(BIN)/staticcheck-$(STATICCHECK_VERSION)

# Store tests run their PostgreSQL half against this server; each test makes
# and drops its own schema. FIFTHWHEEL_SKIP_POSTGRES=1 skips that half.
export FIFTHWHEEL_TEST_POSTGRES ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable

.PHONY: test fmt vet staticcheck deps race bench fuzz build

test: fmt vet staticcheck deps race bench fuzz
	@echo "make test: all checks passed"

# gofmt: fail listing the files it would change.
fmt:
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './.bin/*' -not -path './.git/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi

vet:
	go vet ./...

$(STATICCHECK):
	@mkdir -p $(BIN)
	GOBIN=$(BIN)/tmp go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/tmp/staticcheck $@ && rmdir $(BIN)/tmp

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

# Services the tests need: PostgreSQL on 127.0.0.1:5432 (database "test",
# trust auth) and openssl (PKI interoperability tests).
deps:
	scripts/ensure-postgres.sh
	scripts/ensure-openssl.sh

race:
	go test -race ./...

# Benchmarks smoke: each runs once, to prove it still works, not to measure.
bench:
	go test -run '^$$' -bench . -benchtime=1x ./...

# Fuzz smoke: short runs of each fuzz target, seeded from the corpus.
# FUZZ SMOKE GOES HERE: the frame and ingest work adds lines like
#   go test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 10s ./frame
# (one target per line: -fuzz takes a single package and target).
fuzz:
	go test -run '^$$' -fuzz '^FuzzParseEnvelope$$' -fuzztime 5s ./frame
	go test -run '^$$' -fuzz '^FuzzDecodeFrame$$' -fuzztime 5s ./frame
	go test -run '^$$' -fuzz '^FuzzCanonical$$' -fuzztime 5s ./frame
	go test -run '^$$' -fuzz '^FuzzParseBatch$$' -fuzztime 5s ./internal/ingest
	go test -run '^$$' -fuzz '^FuzzParseCSR$$' -fuzztime 5s ./internal/pki

build:
	go build -o fifthwheel ./cmd/fifthwheel
