# certprop: `make test` builds and tests everything; `make certs` remakes the test certificates.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DELETE_ON_ERROR:
.DEFAULT_GOAL := test

VENV := .venv
PYTHON := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.requirements-installed
CERTPROP_BIN := target/release/certprop

.PHONY: venv build certs test node clean wasm demo

## venv: Python virtualenv with the test tools (reinstalled when requirements.txt changes)
venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.txt
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -r requirements.txt
	touch $@

## build: the certprop CLI (cargo runs one build at a time; keep it that way on 2 cores)
build:
	cargo build --release --bin certprop

## wasm: the proxy-wasm filter, target/wasm32-wasip1/release/certprop_filter.wasm
WASM := target/wasm32-wasip1/release/certprop_filter.wasm
wasm:
	rustup target add wasm32-wasip1
	cargo build --release --target wasm32-wasip1 -p certprop-filter
	@echo "$(WASM): $$(stat -c %s $(WASM)) bytes"

## demo: Envoy + the filter + the echo backend on localhost, one request, then keeps running
demo: venv wasm
	bash envoy/demo.sh

## certs: regenerate certs/ (new keys, serials and fingerprints)
certs: venv
	$(PYTHON) certs/make_certs.py

## node: Node.js is the oracle for the aws-sample subject format
node:
	command -v node >/dev/null || { apt-get update && apt-get install -y nodejs; }
	node --version

## test: Rust tests (the wasm filter and the CLI built first: the Envoy tests use them), then the oracle tests
test: venv node wasm
	cargo build --release --bin certprop
	cargo test --workspace --release
	CERTPROP_BIN=$(CERTPROP_BIN) $(PYTHON) -m pytest -q tests/oracle

clean:
	cargo clean
	rm -rf $(VENV) .pytest_cache tests/oracle/__pycache__
