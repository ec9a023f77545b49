//! The hostile-input suite: every case of `certs/hostile/manifest.json` (made by
//! `certs/make_hostile.py`) through the core, the built filter in the wasmtime host, and the real
//! Envoy, each against the outcome the manifest expects at that layer. Whatever the input, the
//! result is a safe set of identity headers or a clean deny with a stable reason: never a crash,
//! never a header that the input smuggled in.
//!
//! ```text
//! manifest case ──► certprop::parse + decide                        == case.core
//!               ──► FilterHost: connection.peer_certificate = bytes   == case.wasm
//!                   FilterHost: x-forwarded-client-cert Cert= bytes   == case.wasm (older proxies)
//!               ──► one Envoy for every case (rustls client presents the DER as it is)
//!                   allow / deny:<reason> / handshake_refused / spoofed_xfcc_ignored == case.envoy
//! ```
//!
//! Every request also carries forged copies of the identity headers; they never survive.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::SystemTime;

use certprop::{Config, Decision};
use certprop_tests::envoy::{started, Envoy, EnvoyConfig, Response};
use certprop_tests::hostile::{hostile_cases, hostile_config, hostile_key, Expected, HostileCase};
use certprop_tests::mtls_client::{ClientCertificate, MtlsClient};
use certprop_tests::proxy_wasm_host::{FilterHost, Outcome};
use certprop_tests::repo_root;

/// Forged copies of the identity headers, sent with every request.
const FORGED: [(&str, &str); 4] = [
    ("X-Client-Cert-Sub", "Q049YWRtaW4="),
    ("x-client-cert-cn", "admin"),
    ("X-CLIENT-CERT-SPIFFE-ID", "spiffe://example.org/ns/admin/sa/root"),
    ("Client-Cert", ":AAAA:"),
];

fn config() -> Config {
    Config::from_json(&hostile_config()).expect("the manifest's config is valid")
}

/// What the core decides for `bytes` now, as an edge reports it (a certificate that does not
/// parse is a `malformed_certificate` denial), with the headers of an allow.
fn core_decision(bytes: &[u8], config: &Config) -> (Expected, Vec<(String, String)>) {
    let identity = match certprop::parse(bytes) {
        Ok(identity) => identity,
        Err(_) => return (Expected::Deny("malformed_certificate".to_owned()), Vec::new()),
    };
    match certprop::decide(&identity, config, SystemTime::now()) {
        Decision::Allow { headers } => {
            let headers: Vec<(String, String)> = headers.into_iter().map(|h| (h.name, h.value)).collect();
            (Expected::Allow(headers.iter().map(|(name, _)| name.clone()).collect()), headers)
        }
        Decision::Deny { reason } => (Expected::Deny(reason.as_str().to_owned()), Vec::new()),
    }
}

/// No control byte, no leading or trailing space, within the size limit.
fn assert_safe(case: &str, headers: &[(String, String)], config: &Config) {
    for (name, value) in headers {
        assert!(certprop::is_safe_header_value(value), "{case}: {name}: {value:?} is not a safe header value");
        assert!(!value.bytes().any(|b| b < 0x20 || b == 0x7f), "{case}: {name}: control byte in {value:?}");
        assert!(value.len() <= config.max_header_bytes(), "{case}: {name}: {} bytes", value.len());
    }
}

/// Percent-encodes everything but unreserved characters, as a proxy writes XFCC `Cert=`; a
/// `.urlenc` input is already in that form.
fn xfcc_cert_value(case: &HostileCase) -> String {
    let bytes = case.bytes();
    if case.kind == "urlenc" {
        return String::from_utf8(bytes).expect("URL-encoded text");
    }
    bytes
        .iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `check` on every case and reports every case that failed, not just the first.
fn each_case(layer: &str, mut check: impl FnMut(&HostileCase)) {
    let mut failed = Vec::new();
    for case in hostile_cases() {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&case))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failed.push(format!("{}: {message}", case.name));
        }
    }
    assert!(failed.is_empty(), "{layer}: {} case(s) failed:\n{}", failed.len(), failed.join("\n"));
}

#[test]
fn the_manifest_names_thirty_or_more_cases_each_with_a_file() {
    let cases = hostile_cases();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    for case in &cases {
        assert!(case.path.exists(), "{}: {} is missing", case.name, case.path.display());
        assert_eq!(case.core, case.wasm, "{}: the filter decides what the core decides", case.name);
        match &case.envoy {
            Expected::SpoofedXfccIgnored => {
                assert_ne!(case.kind, "pem", "{}: a PEM certificate is presented", case.name)
            }
            _ => assert_eq!(case.kind, "pem", "{}: only a certificate can be presented", case.name),
        }
    }
}

#[test]
fn hostile_inputs_through_the_core() {
    let config = config();
    each_case("core", |case| {
        let (outcome, headers) = core_decision(&case.bytes(), &config);
        assert_eq!(outcome, case.core, "{}: {}", case.name, case.what);
        assert_safe(&case.name, &headers, &config);
    });
}

/// Checks the filter's outcome for one case against the manifest and the core's headers.
fn assert_filter_outcome(case: &HostileCase, outcome: &Outcome, path: &str, config: &Config) {
    let context = format!("{} ({path}): {}", case.name, case.what);
    match &case.wasm {
        Expected::Allow(names) => {
            outcome.assert_allowed();
            let (_, core_headers) = core_decision(&case.bytes(), config);
            for spec in config.headers() {
                let expected: Vec<&str> = core_headers
                    .iter()
                    .filter(|(name, _)| *name == spec.name)
                    .map(|(_, value)| value.as_str())
                    .collect();
                assert_eq!(outcome.header_values(&spec.name), expected, "{context}: {}", spec.name);
                assert_eq!(names.contains(&spec.name), !expected.is_empty(), "{context}: {} set?", spec.name);
            }
            assert_eq!(
                outcome.header_values("client-cert"),
                Vec::<String>::new(),
                "{context}: client-cert is stripped"
            );
            let after: Vec<(String, String)> = outcome.printable_headers();
            assert!(after.iter().all(|(name, _)| !name.eq_ignore_ascii_case("x-injected")), "{context}: {after:?}");
            let set: Vec<(String, String)> =
                after.into_iter().filter(|(name, _)| name.starts_with("x-client-cert")).collect();
            assert_safe(&context, &set, config);
        }
        Expected::Deny(reason) => {
            outcome.assert_denied(reason);
        }
        other => panic!("{context}: {other:?} is not a filter outcome"),
    }
}

#[test]
fn hostile_inputs_through_the_wasm_filter() {
    let config_text = hostile_config();
    let config = config();
    each_case("wasm", |case| {
        let bytes = case.bytes();
        // As Envoy 1.40 hands it over: the connection's peer certificate. One VM per case, so
        // the verdict cache never answers for another case.
        let mut host = FilterHost::new().plugin_config(&config_text).peer_certificate(&bytes).start();
        let mut request = host.request();
        for (name, value) in FORGED {
            request = request.header(name, value);
        }
        let outcome = request.send();
        assert_filter_outcome(case, &outcome, "peer_certificate", &config);

        // As older proxies hand it over: Cert= of the x-forwarded-client-cert that the proxy set,
        // for the connection whose certificate digest the proxy reports.
        let mut host = FilterHost::new().plugin_config(&config_text).start();
        host.set_connection_digest_of(&bytes);
        let xfcc = format!("Hash=00;Cert=\"{}\";Subject=\"CN=hostile\"", xfcc_cert_value(case));
        let mut request = host.request().header("x-forwarded-client-cert", &xfcc);
        for (name, value) in FORGED {
            request = request.header(name, value);
        }
        let outcome = request.send();
        assert_filter_outcome(case, &outcome, "x-forwarded-client-cert", &config);
        assert!(host.wasi_output().is_empty(), "{}: the filter wrote {:?}", case.name, host.wasi_output());
    });
}

/// The identity headers the backend received from Envoy (every copy), by configured name.
fn backend_identity(response: &Response, config: &Config) -> Vec<(String, String)> {
    let list = response.backend_header_list();
    let names: Vec<String> = config.headers_to_strip().iter().map(|h| h.to_ascii_lowercase()).collect();
    list.into_iter().filter(|(name, _)| names.contains(name)).collect()
}

fn assert_backend_got_only(context: &str, response: &Response, expected: &[(String, String)], config: &Config) {
    let mut got = backend_identity(response, config);
    let mut expected = expected.to_vec();
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "{context}: the backend's identity headers");
    let list = response.backend_header_list();
    assert!(list.iter().all(|(name, _)| name != "x-injected"), "{context}: {list:?}");
    assert!(list.iter().all(|(_, value)| !value.contains(['\r', '\n', '\0'])), "{context}: {list:?}");
}

/// Listener TLS failures counted by Envoy: the stats of the mTLS listener's ssl context.
fn tls_refusals(envoy: &Envoy) -> u64 {
    envoy
        .stats("ssl.")
        .iter()
        .filter(|(name, _)| {
            name.starts_with("listener.")
                && (name.ends_with(".ssl.connection_error") || name.contains(".ssl.fail_verify"))
        })
        .map(|(_, value)| value)
        .sum()
}

#[test]
fn hostile_inputs_through_envoy() {
    let config_text = hostile_config();
    let config = config();
    let envoy = started(EnvoyConfig::shipped().plugin_configuration(&config_text));
    let key = hostile_key();
    let client_pem = std::fs::read(repo_root().join("certs/client.pem")).expect("certs/client.pem");
    let (_, client_headers) = core_decision(&client_pem, &config);
    let forged: Vec<(&str, &str)> = FORGED.to_vec();
    let mut refused = 0;
    let refusals_before = tls_refusals(&envoy);
    each_case("envoy", |case| {
        let context = format!("{}: {}", case.name, case.what);
        let path = format!("/hostile/{}", case.name);
        match &case.envoy {
            Expected::SpoofedXfccIgnored => {
                let client = MtlsClient::new(envoy.listener(), Some(&ClientCertificate::named("client")));
                let xfcc = format!("Hash=00;Cert=\"{}\";Subject=\"CN=admin\"", xfcc_cert_value(case));
                let mut headers = forged.clone();
                headers.push(("X-Forwarded-Client-Cert", &xfcc));
                let response = client.get(&path, &headers);
                assert_backend_got_only(&context, &response, &client_headers, &config);
            }
            expected => {
                let certificate = ClientCertificate::pem_file(&case.path, &key);
                let response = MtlsClient::new(envoy.listener(), Some(&certificate)).get(&path, &forged);
                match expected {
                    Expected::Allow(names) => {
                        let (_, headers) = core_decision(certificate.der_bytes(), &config);
                        let got: Vec<&String> = headers.iter().map(|(name, _)| name).collect();
                        assert_eq!(&got, &names.iter().collect::<Vec<_>>(), "{context}: the core's headers");
                        assert_backend_got_only(&context, &response, &headers, &config);
                    }
                    Expected::Deny(reason) => response.assert_denied(reason),
                    Expected::HandshakeRefused => {
                        assert_eq!(response.status, 0, "{context}: an HTTP response {:?}", response.body);
                        assert!(!response.error.is_empty(), "{context}: no error");
                        refused += 1;
                    }
                    Expected::SpoofedXfccIgnored => unreachable!(),
                }
            }
        }
    });
    assert_eq!(tls_refusals(&envoy) - refusals_before, refused, "Envoy's TLS stack counted the refused handshakes");
    let log = envoy.log_text();
    assert!(!log.contains("panicked"), "a panic in Envoy's log:\n{log}");
    assert!(!log.contains("failed: Uncaught"), "a wasm trap in Envoy's log:\n{log}");
    // Still serving.
    let response = MtlsClient::new(envoy.listener(), Some(&ClientCertificate::named("client"))).get("/after", &[]);
    assert_backend_got_only("after the suite", &response, &client_headers, &config);
}
