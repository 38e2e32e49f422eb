# jitgate — the two commands a fresh machine needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
SANDBOX_DIR ?= $(CURDIR)/.sandbox
TEST_SANDBOX_DIR ?= $(CURDIR)/.sandbox-test
PG_TEST_DIR ?= $(CURDIR)/.postgres-test
JITGATE_KUBECTL_VERSIONS ?= 1.27,1.31,1.33
export JITGATE_KUBECTL_VERSIONS

.PHONY: bench help tools build sandbox-build sandbox-up sandbox-down sandbox-seed sandbox-status \
        demo test lint unit-test go-test e2e fmt

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

tools: ## check (and install what can be installed) the tools the build needs
	@scripts/check-tools.sh

sandbox-build: tools ## build the sandbox binary (cached in .cache/sandbox, keyed on go.sum and sources)
	@scripts/sandbox-bin.sh >/dev/null

build: sandbox-build ## build everything
	cargo build --workspace --all-targets

sandbox-up: sandbox-build ## start the sandbox cluster in .sandbox/
	@"$$(scripts/sandbox-bin.sh)" up --dir "$(SANDBOX_DIR)"

sandbox-down: ## stop the sandbox cluster (and the gateway, Dex and the notification receiver) in .sandbox/
	@scripts/stack.sh down "$(SANDBOX_DIR)"

sandbox-seed: sandbox-up ## create the demo namespaces and workloads in the sandbox
	@"$$(scripts/sandbox-bin.sh)" seed --dir "$(SANDBOX_DIR)"

sandbox-status: ## show the sandbox state
	@"$$(scripts/sandbox-bin.sh)" status --dir "$(SANDBOX_DIR)"

demo: build ## build everything, start sandbox + Dex + gateway (SQLite), walk through the 2 AM story
	@scripts/demo.sh "$(SANDBOX_DIR)"

bench: ## direct vs gateway vs kubectl proxy, side by side, with ratios (see docs/benchmarks.md)
	@scripts/bench.sh

fmt: ## format Rust and Go code
	cargo fmt --all
	cd sandbox && gofmt -w ./cmd ./internal ./dex/cmd

lint: tools ## cargo fmt --check, clippy -D warnings, gofmt, go vet
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	@out=$$(cd sandbox && gofmt -l ./cmd ./internal ./dex/cmd); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	cd sandbox && go vet ./...
	cd sandbox/dex && go vet ./cmd/...

unit-test: ## Rust unit and integration tests that need no cluster (the store's on SQLite and on a throwaway PostgreSQL)
	@rm -rf "$(PG_TEST_DIR)"
	JITGATE_REQUIRE_POSTGRES=1 scripts/postgres.sh run "$(PG_TEST_DIR)" -- cargo test --workspace

go-test: ## the sandbox's own Go tests
	cd sandbox && go test ./...
	cd sandbox/dex && go test ./cmd/...

e2e: build ## start a fresh test stack (sandbox, Dex, gateway), run the e2e suites, stop it
	@scripts/e2e.sh "$(TEST_SANDBOX_DIR)"

test: lint unit-test go-test e2e ## everything CI runs
	@echo "make test: all suites passed"
