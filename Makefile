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

# -timeout bounds a hang below CI's 20 minutes (Go's default, 10 minutes,
# is too close to cmd/fifthwheel's run under -race on a loaded 2-core machine).
race:
	go test -race -timeout 15m ./...

# Benchmarks smoke: each runs once, to prove it still works, not to measure.
bench:
	go test -run '^$$' -bench . -benchtime=1x ./...

# Fuzz smoke: short runs of each fuzz target, seeded from the corpus. Budgets
# are execution counts, not durations: with a duration, Go 1.26's fuzz
# coordinator can report "context deadline exceeded" as a failure when the
# deadline races a busy worker (golang/go#75804, fixed in Go 1.27), which a
# loaded 2-core CI machine hits. A count has no deadline to race. Each count
# is a few seconds of fuzzing on this machine kind; -timeout still bounds a
# hang. One target per line: -fuzz takes a single package and target.
FUZZ := go test -run '^$$' -timeout 5m
fuzz:
	$(FUZZ) -fuzz '^FuzzParseEnvelope$$' -fuzztime 30000x ./frame
	$(FUZZ) -fuzz '^FuzzDecodeFrame$$' -fuzztime 30000x ./frame
	$(FUZZ) -fuzz '^FuzzCanonical$$' -fuzztime 30000x ./frame
	$(FUZZ) -fuzz '^FuzzNewExt$$' -fuzztime 30000x ./frame
	$(FUZZ) -fuzz '^FuzzParseBatch$$' -fuzztime 3000x ./internal/ingest
	$(FUZZ) -fuzz '^FuzzParseCSR$$' -fuzztime 3000x ./internal/pki
	$(FUZZ) -fuzz '^FuzzParseLeafData$$' -fuzztime 30000x ./internal/audit
	$(FUZZ) -fuzz '^FuzzVerifyItemProof$$' -fuzztime 3000x ./internal/audit

build:
	go build -o fifthwheel ./cmd/fifthwheel
