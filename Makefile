# certprop: `make test` builds and tests everything; `make certs` remakes the test certificates.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DELETE_ON_ERROR:
.DEFAULT_GOAL := test

VENV := .venv
PYTHON := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.requirements-installed
CERTPROP_BIN := target/release/certprop

.PHONY: venv build certs test node clean wasm wasm-trap demo sam-tools lambda bench soak

## venv: Python virtualenv with the test tools (reinstalled when requirements.txt changes)
venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.txt
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -r requirements.txt
	touch $@

## build: the certprop CLI (cargo runs one build at a time; keep it that way on 2 cores)
build:
	cargo build --release --bin certprop

## wasm-opt: binaryen's optimizer (npm package binaryen, run by node), in .tools
BINARYEN_VERSION := 132.0.0
WASM_OPT := .tools/binaryen/node_modules/.bin/wasm-opt
$(WASM_OPT): | node
	npm install --prefix .tools/binaryen --no-audit --no-fund --no-save binaryen@$(BINARYEN_VERSION)
	$(WASM_OPT) --version
# $(call wasm_opt,IN,OUT): -Oz with the features rustc's wasm32-wasip1 output uses, written beside OUT
# and renamed over it, so that OUT is never half written (and a hard link of cargo's is replaced,
# not written through). Without wasm-opt's inlining: it saves 1% of the file and costs Envoy ~7 MB
# of RSS per filter (make bench's RSS table, measured both ways).
wasm_opt = $(WASM_OPT) -Oz --skip-pass=inlining --skip-pass=inlining-optimizing --enable-bulk-memory \
	--enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals $(1) -o $(2).tmp && mv $(2).tmp $(2)

## wasm: the proxy-wasm filter, target/wasm32-wasip1/release/certprop_filter.wasm: cargo's build of it
## (kept in release/deps/), then binaryen's wasm-opt -Oz, which takes a sixth off its size. The
## optimized file is made again whenever cargo's is newer.
WASM := target/wasm32-wasip1/release/certprop_filter.wasm
WASM_CARGO := target/wasm32-wasip1/release/deps/certprop_filter.wasm
wasm: $(WASM_OPT)
	rustup target add wasm32-wasip1
	cargo build --release --target wasm32-wasip1 -p certprop-filter
	if [ ! $(WASM) -nt $(WASM_CARGO) ]; then $(call wasm_opt,$(WASM_CARGO),$(WASM)); fi
	@echo "$(WASM): $$(stat -c %s $(WASM_CARGO)) bytes from cargo, $$(stat -c %s $(WASM)) after wasm-opt"

## wasm-trap: a test-only filter that panics on the header x-certprop-test-trap (feature test-trap), in its
## own target dir so that it never replaces the real one; tests/tests/envoy_faults.rs loads it into Envoy
WASM_TRAP := target/trap/wasm32-wasip1/release/certprop_filter.wasm
wasm-trap:
	rustup target add wasm32-wasip1
	cargo build --release --target wasm32-wasip1 -p certprop-filter --features test-trap --target-dir target/trap
	@echo "$(WASM_TRAP): $$(stat -c %s $(WASM_TRAP)) bytes"

## sam-tools: the SAM CLI, cfn-lint and cargo-lambda (with zig), installed into .venv from requirements.txt
SAM_ENV := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0
sam-tools: venv
	$(SAM_ENV) sam --version
	$(SAM_ENV) cfn-lint --version
	$(SAM_ENV) cargo lambda --version

## lambda: the authorizer as `bootstrap` for provided.al2023 on arm64, built by `sam build` (cargo-lambda + zig)
BOOTSTRAP := sam/.aws-sam/build/AuthorizerFunction/bootstrap
lambda: sam-tools
	cd sam && $(SAM_ENV) sam build
	@echo "$(BOOTSTRAP): $$(stat -c %s $(BOOTSTRAP)) bytes"

## demo: Envoy + the filter + the echo backend on localhost, one request, then keeps running
demo: venv wasm
	bash envoy/demo.sh

## certs: regenerate certs/ (new keys, serials and fingerprints)
certs: venv
	$(PYTHON) certs/make_certs.py
	$(PYTHON) certs/make_hostile.py

## node: Node.js is the oracle for the aws-sample subject format; curl is the Envoy tests' mTLS client
node:
	command -v node >/dev/null || { apt-get update && apt-get install -y nodejs; }
	command -v npm >/dev/null || { apt-get update && apt-get install -y npm; }
	command -v curl >/dev/null || { apt-get update && apt-get install -y curl; }
	node --version

## test: Rust tests (the wasm filter, the CLI, the Lambda binary and its arm64 bootstrap built first: the
## artifact tests use them), then the oracle tests
test: venv node wasm wasm-trap lambda
	cargo build --release --bin certprop --bin certprop-authorizer
	cargo test --workspace --release
	cargo test --release --manifest-path fuzz/Cargo.toml --no-default-features
	CERTPROP_BIN=$(CERTPROP_BIN) $(PYTHON) -m pytest -q tests/oracle

## oha: the HTTP load generator for the Envoy benchmark (it takes client certificates), in .tools
OHA := .tools/bin/oha
OHA_VERSION := 1.16.0
$(OHA):
	cargo install --root .tools oha --version $(OHA_VERSION) --locked

## twiggy: reads which crate the filter's bytes come from, for the size part of make bench
TWIGGY := .tools/bin/twiggy
TWIGGY_VERSION := 0.8.0
$(TWIGGY):
	cargo install --root .tools twiggy --version $(TWIGGY_VERSION) --locked

TRIVIAL_WASM := target/wasm32-wasip1/release/certprop_bench_trivial_filter.wasm
## bench: core vs the AWS sample's Node logic, Envoy under load (oha), artifact sizes and where the
## filter's bytes go, Envoy RSS, Lambda start; writes BENCHMARKS.md
bench: venv node wasm lambda $(OHA) $(TWIGGY)
	cargo build --release --bin certprop-authorizer
	cargo build --release --target wasm32-wasip1 -p certprop-bench-trivial-filter
	$(call wasm_opt,target/wasm32-wasip1/release/deps/certprop_bench_trivial_filter.wasm,$(TRIVIAL_WASM))
	OHA=$(OHA) TWIGGY=$(TWIGGY) $(PYTHON) bench/run.py

## soak: Envoy with the filter under mixed mTLS traffic (allowed, denied, no certificate) for SOAK_SECONDS
## (default 300); prints requests, unexpected responses and Envoy's RSS. Not part of make test.
SOAK_SECONDS ?= 300
soak: venv wasm
	SOAK_SECONDS=$(SOAK_SECONDS) cargo test --release -p certprop-tests --test envoy_soak -- --ignored --nocapture

## fuzz-tools: cargo-fuzz for the nightly toolchain
.PHONY: fuzz fuzz-tools fuzz-corpus
fuzz-tools:
	rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

## fuzz: each target (parse, config, decide) for FUZZ_SECONDS, one libFuzzer process at a time; prints
## executions and CPU seconds per target (fuzz/run.sh). make test only replays fuzz/corpus and fuzz/regressions
FUZZ_SECONDS ?= 600
fuzz: fuzz-tools
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run.sh

## fuzz-corpus: seeds (certs/, cryptography_vectors, config examples) added to fuzz/corpus/, then minimized
fuzz-corpus: venv fuzz-tools
	rm -rf fuzz/seeds
	$(PYTHON) fuzz/make_seeds.py fuzz/seeds
	for t in parse config decide; do \
	  mkdir -p fuzz/corpus/$$t && cp fuzz/seeds/$$t/* fuzz/corpus/$$t/ && cargo +nightly fuzz cmin $$t fuzz/corpus/$$t; \
	done

clean:
	cargo clean
	rm -rf $(VENV) .pytest_cache tests/oracle/__pycache__
