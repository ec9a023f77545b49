//! The hostile-input suite's manifest, `certs/hostile/manifest.json` (written by
//! `certs/make_hostile.py` with the files it describes): for each named case, the input file and
//! the outcome expected at each layer (core, wasm filter, Envoy). The tests read it; the
//! expectations are written only there.

use std::path::PathBuf;

use serde_json::Value;

use crate::repo_root;

/// What a layer must do with a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Allowed, with exactly these identity headers set.
    Allow(Vec<String>),
    /// Refused with this reason (a 403 at the edges).
    Deny(String),
    /// Envoy's TLS stack refuses the certificate in the handshake (the filter never runs).
    HandshakeRefused,
    /// Not a certificate a TLS client can present: sent as the client's own
    /// `x-forwarded-client-cert` on a connection with `certs/client.pem`, it must not change the
    /// identity the backend sees.
    SpoofedXfccIgnored,
}

/// One case of the suite.
#[derive(Clone, Debug)]
pub struct HostileCase {
    /// Stable name (`ctl-utf8-cn`, `der-truncated`, …).
    pub name: String,
    /// What the case is.
    pub what: String,
    /// The input file.
    pub path: PathBuf,
    /// `pem`, `txt`, `urlenc` or `der`: only `pem` files are certificates a TLS client presents.
    pub kind: String,
    /// certprop::parse + certprop::decide.
    pub core: Expected,
    /// The built filter in the wasmtime host.
    pub wasm: Expected,
    /// The real Envoy.
    pub envoy: Expected,
}

impl HostileCase {
    /// The input's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).unwrap_or_else(|e| panic!("{}: {e}", self.path.display()))
    }
}

/// `certs/hostile/`.
pub fn hostile_dir() -> PathBuf {
    repo_root().join("certs/hostile")
}

fn manifest() -> Value {
    let path = hostile_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}: make it with `make certs` (certs/make_hostile.py)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The plugin configuration every layer uses for the suite, as JSON text.
pub fn hostile_config() -> String {
    manifest()["config"].to_string()
}

/// The private key of every certificate in the suite.
pub fn hostile_key() -> PathBuf {
    hostile_dir().join(manifest()["key"].as_str().expect("manifest key"))
}

/// Every case, in manifest order.
pub fn hostile_cases() -> Vec<HostileCase> {
    let manifest = manifest();
    let cases = manifest["cases"].as_array().expect("manifest cases");
    cases.iter().map(|case| parse_case(case)).collect()
}

fn parse_case(case: &Value) -> HostileCase {
    let text = |key: &str| case[key].as_str().unwrap_or_else(|| panic!("case {case}: no {key}")).to_owned();
    let headers: Vec<String> = case["headers"]
        .as_array()
        .map(|list| list.iter().map(|h| h.as_str().expect("header name").to_owned()).collect())
        .unwrap_or_default();
    let expected = |layer: &str| -> Expected {
        match text(layer).as_str() {
            "allow" => Expected::Allow(headers.clone()),
            "handshake_refused" => Expected::HandshakeRefused,
            "spoofed_xfcc_ignored" => Expected::SpoofedXfccIgnored,
            other => match other.strip_prefix("deny:") {
                Some(reason) => Expected::Deny(reason.to_owned()),
                None => panic!("case {}: unknown {layer} outcome {other:?}", text("name")),
            },
        }
    };
    let file = text("file");
    HostileCase {
        name: text("name"),
        what: text("what"),
        kind: file.rsplit('.').next().unwrap_or_default().to_owned(),
        path: hostile_dir().join(&file),
        core: expected("core"),
        wasm: expected("wasm"),
        envoy: expected("envoy"),
    }
}
