//! The spoofing matrix in the real Envoy: a client sends its own copies of every header the
//! config strips (`Config::headers_to_strip`: each configured identity header, with the
//! `rfc9440` preset's `client-cert`, and `x-forwarded-client-cert`), in lower, upper and mixed
//! case, repeated, and empty, with a client certificate, with a SPIFFE certificate, and with none.
//! The backend must see exactly the trusted values the core renders for that connection, and
//! nothing else under those names.
//!
//! ```text
//! for client in [client.pem, spiffe.pem, no certificate]       (one keep-alive connection each)
//!   for header in config.headers_to_strip()                    (5)
//!     for variant in [lower, UPPER, Mixed, repeated ×3, empty] (5)
//!       GET with the forged header ──► Envoy ──► echo backend: identity headers == trusted
//! ```

use certprop::Config;
use certprop_tests::envoy::{started, EnvoyConfig, Response};
use certprop_tests::mtls_client::{ClientCertificate, MtlsClient};
use certprop_tests::{core_headers_for, repo_root};
use serde_json::Value;

/// The shipped plugin configuration plus the `rfc9440` preset (so `client-cert` is a trusted
/// header too), with requests without a certificate allowed (so that the backend shows what
/// reaches it from them).
fn matrix_config() -> String {
    let path = repo_root().join("envoy/certprop.json");
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("envoy/certprop.json")).expect("JSON");
    config["preset"] = "rfc9440".into();
    config["on_missing_cert"] = "allow".into();
    config.to_string()
}

/// `x-client-cert-sub` → `X-Client-Cert-Sub`.
fn mixed_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The forged copies of `name` for each variant of the matrix.
fn variants(name: &str, marker: &str) -> Vec<(&'static str, Vec<(String, String)>)> {
    let value = |n: u32| format!("{marker}-{n}");
    vec![
        ("lower", vec![(name.to_owned(), value(1))]),
        ("upper", vec![(name.to_ascii_uppercase(), value(1))]),
        ("mixed", vec![(mixed_case(name), value(1))]),
        (
            "repeated",
            vec![(name.to_owned(), value(1)), (name.to_ascii_uppercase(), value(2)), (mixed_case(name), value(3))],
        ),
        ("empty", vec![(name.to_owned(), String::new())]),
    ]
}

fn identity_headers(response: &Response, names: &[String]) -> Vec<(String, String)> {
    let mut got: Vec<(String, String)> =
        response.backend_header_list().into_iter().filter(|(name, _)| names.contains(name)).collect();
    got.sort();
    got
}

#[test]
fn the_backend_sees_only_trusted_identity_headers_whatever_the_client_sends() {
    let config_text = matrix_config();
    let config = Config::from_json(&config_text).expect("valid");
    let names: Vec<String> = config.headers_to_strip().iter().map(|n| n.to_ascii_lowercase()).collect();
    for required in [
        "x-client-cert-sub",
        "x-client-cert-sha256",
        "x-client-cert-spiffe-id",
        "client-cert",
        "x-forwarded-client-cert",
    ] {
        assert!(names.iter().any(|n| n == required), "{required} is not stripped: {names:?}");
    }
    let envoy = started(EnvoyConfig::shipped().client_certificate_optional().plugin_configuration(&config_text));
    let marker = "spoofed";
    let mut cells = 0;
    for client in [Some("client"), Some("spiffe"), None] {
        let expected =
            core_headers_for(client, &config).unwrap_or_else(|reason| panic!("{client:?} is denied: {reason}"));
        if client.is_some() {
            assert!(expected.iter().any(|(name, _)| name == "client-cert"), "the preset sets client-cert");
        }
        let certificate = client.map(ClientCertificate::named);
        let tls = MtlsClient::new(envoy.listener(), certificate.as_ref());
        let mut connection = tls.connect().expect("connect");
        let mut send = |what: &str, headers: &[(String, String)]| {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let response = connection.get("/matrix", &headers).unwrap_or_else(|e| panic!("{client:?} {what}: {e}"));
            assert_eq!(identity_headers(&response, &names), expected, "{client:?} {what}: the identity headers");
            let list = response.backend_header_list();
            assert!(
                list.iter().all(|(_, value)| !value.contains(marker)),
                "{client:?} {what}: a forged value got through: {list:?}"
            );
        };
        for name in &names {
            for (variant, headers) in variants(name, marker) {
                send(&format!("{name} {variant}"), &headers);
                cells += 1;
            }
        }
        // Everything at once.
        let all: Vec<(String, String)> =
            names.iter().flat_map(|name| variants(name, marker)).flat_map(|(_, h)| h).collect();
        send("all forged headers at once", &all);
    }
    assert_eq!(cells, 3 * names.len() * 5);
    // Each configured header was forged with 6 non-empty copies in its own cells and 6 more in the
    // all-at-once request, per client: the filter counted at least those (empty ones may count too).
    let forged_copies = (3 * config.headers().len() * 12) as u64;
    assert!(envoy.counter("wasmcustom.certprop.spoofed_header_stripped") >= forged_copies);
    eprintln!(
        "spoofing matrix: {cells} cells ({} headers × 5 variants × 3 clients) + 3 all-at-once requests",
        names.len()
    );
}
