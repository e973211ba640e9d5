# Concord: the one entry point. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export CARGO_TARGET_DIR ?= $(HOME)/.cache/concord-target
export CONCORD_RUN_DIR ?= $(CURDIR)/.run
export CONCORD_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/concord
export CONCORD_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/%2f
BIN_DIR := $(CARGO_TARGET_DIR)/debug

.PHONY: help setup deps toolchain build up down status demo test test-tools lint lint-tools k8s-validate audit fmt clean-test llm-setup llm-up llm-down bench-setup bench-matching bench-resolution bench-realtime bench-reconcile bench-review load chaos chaos-ci ui-screenshots

help: ## This list
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

toolchain: ## Check the Rust toolchain (cargo, rustfmt, clippy)
	@command -v cargo >/dev/null || { echo "cargo is missing: install Rust (rustup) first, see README.md"; exit 1; }
	@cargo --version

deps: ## Install (apt) and start PostgreSQL and RabbitMQ where missing or stopped
	@bash deploy/deps.sh

setup: toolchain deps ## Everything the stack needs: dependencies, database, migrations, binaries
	@bash deploy/db.sh
	@cargo build --bins
	@$(BIN_DIR)/gateway migrate

build: toolchain ## Build the five service binaries and the `concord` command line
	@cargo build --bins

up: setup ## Start the gateway, the three workers and the webhook sender in the background (logs in .run/)
	@bash deploy/services.sh up

down: ## Stop the services started by `make up`
	@bash deploy/services.sh down

status: ## Show which services run and whether they are ready
	@bash deploy/services.sh status

demo: up llm-up ## The whole stack and the local LLM: sample jobs submitted, matched (manual and smart), resolved, shown back
	@bash deploy/demo.sh

test: toolchain deps test-tools ## Every test, against the real PostgreSQL and RabbitMQ
	@bash deploy/clean-test.sh
	@# The binaries too: the trace test runs the services as the processes they deploy as.
	@cargo build --bins
	@if cargo nextest --version >/dev/null 2>&1; then \
		cargo nextest run --workspace --profile ci; \
	else \
		echo "cargo-nextest not found; running cargo test"; \
		cargo test --workspace; \
	fi

ui-screenshots: toolchain deps test-tools ## The README's screenshots of the review UI, taken by its browser test (docs/screenshots/)
	@mkdir -p docs/screenshots
	@CONCORD_UI_SCREENSHOTS=$(CURDIR)/docs/screenshots cargo nextest run -p concord-system-tests a_reviewer_decides_ten_results

test-tools: ## The test virtualenv outside the repository (schemathesis, openapi-spec-validator), pinned
	@bash deploy/test-tools.sh

bench-setup: ## The bench virtualenv (pandas, Splink) outside the repository
	@bash deploy/bench.sh setup

bench-matching: deps bench-setup ## Matching accuracy and speed through the REST API, beside Splink (BENCH_ARGS=...)
	@bash deploy/bench.sh run matching

bench-resolution: deps bench-setup ## Value resolution accuracy (vs the RapidFuzz baseline) and speed through the REST API (BENCH_ARGS=...)
	@bash deploy/bench.sh run resolution

bench-realtime: deps ## Real-time match latency (p50/p99) at 1M reference rows and 200 requests/s on loopback (BENCH_ARGS=...)
	@bash deploy/bench.sh run realtime

bench-reconcile: deps ## The invoice bench's vendor names reconciled (W3C API, as OpenRefine sends them) against the ledger's vendors (BENCH_ARGS=...)
	@bash deploy/bench.sh run reconcile

bench-review: deps ## Reviewing 100 review-band results of the invoice set: the UI by keyboard (headless Chromium) against API calls (BENCH_ARGS=...)
	@bash deploy/bench.sh run review

load: deps ## Open-loop load at fixed rates (run detail, results pages, job submission, real-time match): p50/p99, errors (BENCH_ARGS=...)
	@bash deploy/bench.sh run load

chaos: deps ## Faults mid-run on 100k matching and resolution runs (kill -9, SIGTERM, broker and database restarts, poison): every run checked (BENCH_ARGS=...)
	@bash deploy/bench.sh run chaos

chaos-ci: deps ## The bounded chaos suite: 5,000 documents in chunks of 250, each fault once, on the dev-profile stack
	@CONCORD_PROFILE=$${CONCORD_PROFILE:-debug} CONCORD_MATCHING_CHUNK_SIZE=$${CONCORD_MATCHING_CHUNK_SIZE:-250} CONCORD_RESOLUTION_CHUNK_SIZE=$${CONCORD_RESOLUTION_CHUNK_SIZE:-250} \
		BENCH_ARGS="--ci $(BENCH_ARGS)" bash deploy/bench.sh run chaos

lint: toolchain lint-tools ## rustfmt, clippy (warnings as errors), cargo-deny (licences, bans, sources), cargo-machete, the k8s manifests
	@cargo fmt --all -- --check
	@cargo clippy --workspace --all-targets -- -D warnings
	@cargo deny --log-level error check licenses bans sources
	@cargo machete
	@bash deploy/k8s/validate.sh

k8s-validate: ## Render deploy/k8s's kustomizations and validate every object (Kubernetes and CRD schemas)
	@bash deploy/k8s/validate.sh

audit: lint-tools ## RustSec advisories over Cargo.lock (fetches the advisory database from GitHub)
	@cargo deny check advisories

lint-tools: ## Install the pinned cargo-deny and cargo-machete where missing, and the k8s validation virtualenv
	@command -v cargo-deny >/dev/null || cargo install cargo-deny --version 0.20.2 --locked
	@command -v cargo-machete >/dev/null || cargo install cargo-machete --version 0.9.2 --locked
	@bash deploy/k8s/validate.sh --install

fmt: ## Format the code
	@cargo fmt --all

clean-test: ## Drop the databases and broker queues that test runs left behind
	@bash deploy/clean-test.sh

llm-setup: ## Install the default local LLM (llama.cpp's server prebuilt from PyPI + SmolLM2-135M, about 10 s)
	@bash deploy/llm.sh install

llm-up: llm-setup ## Start the local LLM server on 127.0.0.1:8081
	@bash deploy/llm.sh start

llm-down: ## Stop the local LLM server
	@bash deploy/llm.sh stop
