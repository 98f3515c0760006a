# ELB Studio — the two commands of the README are `make serve` and `make test`.
# Both install what is missing first (scripts/setup.sh: pinned, idempotent).

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/.tools/node_modules/.bin:$(PATH)
export NODE_PATH := $(CURDIR)/.tools/node_modules
PORT ?= 8080

.PHONY: setup dist serve test test-native test-e2e bench clean-dist

setup:
	@bash scripts/setup.sh

# The static site, into dist/ (relative asset URLs: works from any sub-path).
dist: setup
	cargo fetch --locked || cargo fetch
	trunk build --release --dist dist --public-url ./

# Build, then serve dist/ on http://127.0.0.1:$(PORT)/ (Ctrl-C stops).
serve: dist
	@echo "ELB Studio: http://127.0.0.1:$(PORT)/"
	python3 -m http.server $(PORT) --bind 127.0.0.1 --directory dist

# Every test: native engine + CLI tests, then the browser end-to-end suite.
test: setup test-native test-e2e

# The elb-studio package and the solver crate it re-exports (solver/).
test-native:
	cargo test --locked --all-targets -p elb-studio -p elb-solver

test-e2e: dist
	ELB_SKIP_BUILD=1 bash tests/e2e/run.sh

bench:
	cargo run --release -p elb-bench -- all
