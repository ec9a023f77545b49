//! Test support for certprop's artifact tests: the tests under `tests/tests/` load built
//! artifacts (the `.wasm` filter, the Lambda binary, the CLI) and real hosts (Envoy, a Lambda
//! Runtime API) and assert on what they do. Each helper fails with a message that says how to
//! build what is missing.

#![forbid(unsafe_code)]

pub mod proxy_wasm_host;
pub mod runtime_api;

use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A built artifact under `target/`, or a panic that says how to build it.
pub fn artifact(relative: &str, build_with: &str) -> PathBuf {
    let path = repo_root().join("target").join(relative);
    assert!(path.exists(), "{} is missing: build it with `{build_with}` (or run `make test`)", path.display());
    path
}
