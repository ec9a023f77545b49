//! The built proxy-wasm filter (`certprop_filter.wasm`) in the wasmtime test host: every branch of
//! the filter, checked against the core's own decision for the same certificate and config.
//!
//! Build the filter first: `make test` does, or
//! `cargo build --release --target wasm32-wasip1 -p certprop-filter`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use certprop::{Config, Decision};
use certprop_tests::proxy_wasm_host::{FilterHost, LogLevel, Outcome};
use certprop_tests::repo_root;

fn cert(name: &str) -> Vec<u8> {
    let path = repo_root().join("certs").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn at(rfc3339: &str) -> SystemTime {
    let seconds = certprop::rfc3339::parse(rfc3339).expect("RFC 3339 time");
    UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).expect("after 1970"))
}

/// What the core decides for this certificate and config: the filter must do the same.
fn core_headers(pem: &[u8], config: &str) -> Vec<(String, String)> {
    let config = Config::from_json(config).expect("valid config");
    let identity = certprop::parse(pem).expect("parseable certificate");
    match certprop::decide(&identity, &config, SystemTime::now()) {
        Decision::Allow { headers } => headers.into_iter().map(|h| (h.name, h.value)).collect(),
        Decision::Deny { reason } => panic!("the core denies this certificate: {reason}"),
    }
}

fn started(config: &str, pem: &[u8]) -> FilterHost {
    FilterHost::new().plugin_config(config).peer_certificate(pem).start()
}

const STRIP_XFCC: &str = r#"{"strip": ["x-forwarded-client-cert"]}"#;

/// The configured identity headers come out exactly as the core renders them.
fn assert_core_headers(outcome: &Outcome, pem: &[u8], config: &str) {
    for (name, value) in core_headers(pem, config) {
        assert_eq!(outcome.header(&name).as_deref(), Some(value.as_str()), "{name}");
    }
}

#[test]
fn default_config_sets_the_subject_header() {
    let pem = cert("client.pem");
    let mut host = started("{}", &pem);
    let outcome = host.request().send();
    outcome.assert_allowed();
    assert_core_headers(&outcome, &pem, "{}");
    let sub = outcome.header("x-client-cert-sub").expect("x-client-cert-sub set");
    assert_eq!(sub, "Q049Y2xpZW50LWEsT1U9UGF5bWVudHMsTz1BY21lXCwgSW5jLixDPVVT", "base64 of the RFC 4514 subject");
    assert_eq!(host.counter("certprop.allowed"), 1);
    assert!(host.unsupported_calls().is_empty(), "{:?}", host.unsupported_calls());
}

#[test]
fn counts_reach_the_host_on_the_tick_not_per_request() {
    let pem = cert("client.pem");
    let mut host = started("{}", &pem);
    assert_eq!(host.tick_period_ms(), 250, "metrics::FLUSH_PERIOD");
    for _ in 0..3 {
        host.request().send().assert_allowed();
    }
    // A request makes no metric host call: the counts wait in the filter for the tick.
    assert_eq!(host.metric("certprop.allowed"), Some(0));
    assert_eq!(host.metric("certprop.cache_hit"), Some(0));
    host.tick();
    assert_eq!(host.metric("certprop.allowed"), Some(3));
    assert_eq!((host.metric("certprop.cache_miss"), host.metric("certprop.cache_hit")), (Some(1), Some(2)));
    // Handed over once: a second tick adds nothing.
    host.tick();
    assert_eq!(host.metric("certprop.allowed"), Some(3));
}

#[test]
fn absent_plugin_configuration_means_the_empty_config() {
    let pem = cert("client.pem");
    let mut host = FilterHost::new().peer_certificate(&pem).start();
    let outcome = host.request().send();
    outcome.assert_allowed();
    assert_core_headers(&outcome, &pem, "{}");
}

#[test]
fn several_configured_headers_and_presets() {
    let config = r#"{"headers": [
        {"name": "x-client-cert-sub", "value": "subject"},
        {"name": "x-client-cert-sha256", "value": "sha256", "encoding": "raw"},
        {"name": "x-client-cert-dns", "value": "san_dns", "encoding": "raw"},
        {"name": "x-client-cert-spiffe", "value": "spiffe_id", "encoding": "raw"}],
        "preset": "rfc9440"}"#;
    let pem = cert("client.pem");
    let mut host = started(config, &pem);
    let outcome = host.request().send();
    outcome.assert_allowed();
    assert_core_headers(&outcome, &pem, config);
    assert_eq!(outcome.header("x-client-cert-dns").as_deref(), Some("client-a.example.org"));
    assert_eq!(outcome.header("x-client-cert-spiffe"), None, "no SPIFFE ID, no header");
    assert!(outcome.header("client-cert").is_some_and(|v| v.starts_with(':') && v.ends_with(':')));

    let spiffe = cert("spiffe.pem");
    host.set_peer_certificate(&spiffe);
    let outcome = host.request().send();
    outcome.assert_allowed();
    assert_eq!(outcome.header("x-client-cert-spiffe").as_deref(), Some("spiffe://example.org/ns/default/sa/client"));
    assert_eq!(outcome.header("x-client-cert-sub"), None, "empty subject, no header");
}

#[test]
fn spoofed_identity_headers_are_removed_in_any_case_every_copy() {
    let config = r#"{"headers": [{"name": "x-client-cert-sub", "value": "subject"},
                                 {"name": "x-client-cert-sha256", "value": "sha256", "encoding": "raw"}],
                     "strip": ["x-forwarded-client-cert", "x-internal-user"]}"#;
    let pem = cert("client.pem");
    let mut host = started(config, &pem);
    let outcome = host
        .request()
        .header("X-Client-Cert-Sub", "Q049YWRtaW4=")
        .header("x-client-cert-sub", "second copy")
        .header("X-CLIENT-CERT-SHA256", "00")
        .header("X-Internal-User", "root")
        .header("x-forwarded-client-cert", "Hash=00;Subject=\"CN=admin\"")
        .header("x-kept", "yes")
        .send();
    outcome.assert_allowed();
    assert_core_headers(&outcome, &pem, config);
    assert_eq!(outcome.header_values("x-client-cert-sub").len(), 1);
    assert_eq!(outcome.header("x-internal-user"), None);
    assert_eq!(outcome.header("x-forwarded-client-cert"), None);
    assert_eq!(outcome.header("x-kept").as_deref(), Some("yes"));
    assert_eq!(host.counter("certprop.spoofed_header_stripped"), 3, "copies of configured identity headers");
}

#[test]
fn headers_are_stripped_on_deny_and_without_a_certificate() {
    // Denied: the request never reaches the backend, but the strip happens first all the same.
    let mut host = FilterHost::new().plugin_config("{}").start();
    let outcome = host.request().header("x-client-cert-sub", "forged").send();
    outcome.assert_denied("missing_certificate");
    assert_eq!(outcome.removed_headers, ["x-client-cert-sub"]);
    assert_eq!(host.counter("certprop.denied.missing_certificate"), 1);

    // Allowed without a certificate: nothing set, the forged header gone.
    let mut host = FilterHost::new().plugin_config(r#"{"on_missing_cert": "allow"}"#).start();
    let outcome = host.request().header("X-Client-Cert-Sub", "forged").send();
    outcome.assert_allowed();
    assert_eq!(outcome.header("x-client-cert-sub"), None);
    assert_eq!(host.counter("certprop.allowed"), 1);
}

#[test]
fn xfcc_cert_is_the_fallback_when_envoy_has_no_peer_certificate_property() {
    let pem = cert("client.pem");
    let urlenc = String::from_utf8(cert("client.urlenc")).expect("ASCII");
    let mut host = FilterHost::new().plugin_config(STRIP_XFCC).start();
    host.set_connection_digest_of(&pem);
    let xfcc = format!(r#"By=spiffe://example.org/backend;Hash=abc;Cert="{}";Subject="CN=client-a,OU=Payments""#, urlenc.trim());
    let outcome = host.request().header("x-forwarded-client-cert", &xfcc).send();
    outcome.assert_allowed();
    assert_core_headers(&outcome, &pem, STRIP_XFCC);
    assert!(outcome.read_property("connection.peer_certificate"), "the property is tried first");
    assert_eq!(outcome.header("x-forwarded-client-cert"), None, "read before it is stripped");

    // Same connection again: from the cache, the header is not needed.
    let outcome = host.request().header("x-forwarded-client-cert", &xfcc).send();
    outcome.assert_allowed();
    assert!(!outcome.read_property("connection.peer_certificate"));
    assert_eq!(host.counter("certprop.cache_hit"), 1);
}

#[test]
fn xfcc_naming_another_certificate_than_the_connections_is_ignored() {
    let urlenc = String::from_utf8(cert("client.urlenc")).expect("ASCII");
    let xfcc = format!(r#"Cert="{}""#, urlenc.trim());

    // The connection presented client-b; the header claims client-a.
    let mut host = FilterHost::new().plugin_config(STRIP_XFCC).start();
    host.set_connection_digest_of(&cert("client-b.pem"));
    host.request().header("x-forwarded-client-cert", &xfcc).send().assert_denied("missing_certificate");

    // No client certificate on the connection at all.
    let mut host = FilterHost::new().plugin_config(STRIP_XFCC).start();
    let outcome = host.request().header("x-forwarded-client-cert", &xfcc).send();
    outcome.assert_denied("missing_certificate");
    assert_eq!(outcome.header("x-forwarded-client-cert"), None);
}

#[test]
fn xfcc_with_an_unparseable_cert_is_malformed() {
    let pem = cert("client.pem");
    let mut host = FilterHost::new().plugin_config(STRIP_XFCC).start();
    host.set_connection_digest_of(&pem);
    host.request().header("x-forwarded-client-cert", "Cert=\"not%20a%20certificate\"").send().assert_denied("malformed_certificate");
}

#[test]
fn cache_hit_does_not_fetch_or_parse_the_certificate_again() {
    let pem = cert("client.pem");
    let mut host = started("{}", &pem);
    let first = host.request().send();
    first.assert_allowed();
    assert!(first.read_property("connection.sha256_peer_certificate_digest"));
    assert!(first.read_property("connection.peer_certificate"));
    assert!(first.logs.iter().any(|l| l.message.contains("allow")));

    let second = host.request().send();
    second.assert_allowed();
    assert_eq!(second.header("x-client-cert-sub"), first.header("x-client-cert-sub"));
    assert_eq!(second.property_reads, ["connection.sha256_peer_certificate_digest"], "only the digest is read");
    assert!(second.logs.iter().any(|l| l.message.contains("from cache")));
    assert_eq!((host.counter("certprop.cache_hit"), host.counter("certprop.cache_miss")), (1, 1));

    // A new connection with another certificate: a miss, and its own identity.
    let other = cert("client-b.pem");
    host.set_peer_certificate(&other);
    let third = host.request().send();
    third.assert_allowed();
    assert!(third.read_property("connection.peer_certificate"));
    assert_core_headers(&third, &other, "{}");
    assert_eq!((host.counter("certprop.cache_hit"), host.counter("certprop.cache_miss")), (1, 2));
}

#[test]
fn cached_identity_is_decided_again_at_each_request_time() {
    let pem = cert("client.pem");
    let mut host = FilterHost::new().peer_certificate(&pem).now(at("2030-01-01T00:00:00Z")).start();
    host.request().send().assert_allowed();
    host.set_now(at("2125-01-01T00:00:01Z"));
    host.request().send().assert_denied("expired");
    assert_eq!(host.counter("certprop.cache_hit"), 1);
}

#[test]
fn validity_uses_the_hosts_clock() {
    let mut host = started("{}", &cert("expired.pem"));
    host.request().send().assert_denied("expired");
    assert_eq!(host.counter("certprop.denied.expired"), 1);
    assert_eq!(host.counter("certprop.denied"), 1);

    let mut host = started("{}", &cert("not-yet-valid.pem"));
    host.request().send().assert_denied("not_yet_valid");

    let mut host = FilterHost::new().peer_certificate(&cert("client.pem")).now(at("2024-06-01T00:00:00Z")).start();
    host.request().send().assert_denied("not_yet_valid");

    let mut host = FilterHost::new()
        .plugin_config(r#"{"policy": {"check_validity": false}}"#)
        .peer_certificate(&cert("expired.pem"))
        .start();
    host.request().send().assert_allowed();
}

#[test]
fn policy_allow_and_deny_rules() {
    let config = r#"{"policy": {"allow": [{"subject": "CN=client-b,OU=*,O=Acme\\, Inc.,C=US"}]}}"#;
    let mut host = started(config, &cert("client.pem"));
    let outcome = host.request().header("x-client-cert-sub", "forged").send();
    outcome.assert_denied("policy_denied");
    assert_eq!(host.counter("certprop.denied.policy_denied"), 1);

    host.set_peer_certificate(&cert("client-b.pem"));
    host.request().send().assert_allowed();

    let sha256 = certprop::parse(&cert("client-b.pem")).expect("parse").sha256_hex();
    let config = format!(r#"{{"policy": {{"deny": [{{"sha256": "{sha256}"}}]}}}}"#);
    let mut host = started(&config, &cert("client-b.pem"));
    host.request().send().assert_denied("policy_denied");

    let mut host = started(r#"{"policy": {"require_client_auth_eku": true}}"#, &cert("no-eku.pem"));
    host.request().send().assert_denied("missing_client_auth_eku");
}

#[test]
fn hostile_subject_gives_a_safe_header_or_a_deny_never_an_injected_header() {
    let pem = cert("hostile-crlf.pem");
    let mut host = started("{}", &pem);
    let outcome = host.request().send();
    outcome.assert_allowed();
    assert_core_headers(&outcome, &pem, "{}");
    assert_eq!(outcome.header("x-injected"), None);
    for (name, value) in &outcome.request_headers {
        assert!(!value.iter().any(|b| *b < 0x20 || *b == 0x7f), "control byte in {}", String::from_utf8_lossy(name));
    }

    let raw = r#"{"headers": [{"name": "x-client-cert-cn", "value": "cn", "encoding": "raw"}]}"#;
    let mut host = started(raw, &pem);
    let outcome = host.request().send();
    outcome.assert_denied("unsafe_header_value");
    assert_eq!(outcome.header("x-injected"), None);
    assert_eq!(host.counter("certprop.denied.unsafe_header_value"), 1);

    let unicode = cert("unicode.pem");
    let mut host = started("{}", &unicode);
    let outcome = host.request().send();
    outcome.assert_allowed();
    assert_core_headers(&outcome, &unicode, "{}");
}

#[test]
fn oversized_header_is_denied_not_truncated() {
    let mut host = started("{}", &cert("huge-subject.pem"));
    let outcome = host.request().send();
    outcome.assert_denied("header_too_large");
    assert_eq!(outcome.header("x-client-cert-sub"), None);
}

#[test]
fn malformed_certificate_is_denied_and_remembered() {
    let mut host = started("{}", &cert("garbage.pem"));
    host.request().send().assert_denied("malformed_certificate");
    let second = host.request().send();
    second.assert_denied("malformed_certificate");
    assert!(!second.read_property("connection.peer_certificate"), "a malformed certificate is not parsed twice");
    assert_eq!(host.counter("certprop.denied.malformed_certificate"), 2);
}

#[test]
fn certificate_without_a_digest_is_parsed_every_time() {
    let pem = cert("client.pem");
    let mut host = FilterHost::new().property(&["connection", "peer_certificate"], pem.clone()).start();
    host.request().send().assert_allowed();
    let second = host.request().send();
    second.assert_allowed();
    assert!(second.read_property("connection.peer_certificate"));
    assert_eq!((host.counter("certprop.cache_hit"), host.counter("certprop.cache_miss")), (0, 0));
}

#[test]
fn request_header_values_that_are_not_utf8_do_not_break_the_filter() {
    let pem = cert("client.pem");
    let mut host = started(STRIP_XFCC, &pem);
    let outcome = host
        .request()
        .header_bytes("x-binary", b"\xff\xfe")
        .header_bytes("x-forwarded-client-cert", b"Cert=\"\xff\"")
        .header_bytes("x-client-cert-sub", b"\xc3\x28")
        .send();
    outcome.assert_allowed();
    assert_core_headers(&outcome, &pem, STRIP_XFCC);
    assert_eq!(outcome.header_values("x-binary"), ["\u{fffd}\u{fffd}"]);
}

#[test]
fn bad_plugin_configuration_is_refused_with_the_config_error() {
    let bad = r#"{"headers": [{"name": "x-client-cert-sub", "value": "subjekt"}]}"#;
    let expected = Config::from_json(bad).expect_err("invalid").to_string();
    let mut host = FilterHost::new().plugin_config(bad);
    assert!(!host.try_start(), "on_configure must return false");
    let errors: Vec<_> = host.logs().iter().filter(|l| l.level >= LogLevel::Error).collect();
    assert!(errors.iter().any(|l| l.message.contains(&expected)), "logs {errors:#?} should contain {expected:?}");

    for bad in ["not json", r#"{"unknown": 1}"#, r#"{"policy": {"allow": [{"issuer": 7}]}}"#, "   "] {
        let mut host = FilterHost::new().plugin_config(bad);
        assert!(!host.try_start(), "{bad:?} accepted");
        assert!(host.logs().iter().any(|l| l.level == LogLevel::Error && l.message.contains("config")), "{bad:?}");
    }
}

#[test]
fn configuration_that_is_not_utf8_is_refused() {
    let mut host = FilterHost::new().plugin_config_bytes(b"{\"strip\": [\"\xff\"]}");
    assert!(!host.try_start());
    assert!(host.logs().iter().any(|l| l.level == LogLevel::Error && l.message.contains("not UTF-8")));
}

#[test]
fn counters_cover_every_deny_reason_up_front() {
    let mut host = FilterHost::new().start();
    for reason in certprop::DenyReason::ALL {
        assert_eq!(host.counter(&format!("certprop.denied.{reason}")), 0);
    }
    for name in ["certprop.allowed", "certprop.denied", "certprop.cache_hit", "certprop.cache_miss", "certprop.spoofed_header_stripped"] {
        assert_eq!(host.counter(name), 0, "{name}");
    }
}

#[test]
fn no_certificate_or_identity_in_logs_above_debug() {
    let pem = cert("client.pem");
    let mut host = started("{}", &pem);
    host.request().header("x-client-cert-sub", "forged").send().assert_allowed();
    host.set_peer_certificate(&cert("expired.pem"));
    host.request().send().assert_denied("expired");
    let identity = certprop::parse(&pem).expect("parse");
    for record in host.logs().iter().filter(|l| l.level >= LogLevel::Info) {
        for secret in ["BEGIN CERTIFICATE", "client-a", identity.sha256_hex().get(..16).expect("hex"), "Q049"] {
            assert!(!record.message.contains(secret), "{record:?} shows {secret:?}");
        }
    }
    assert!(host.logs().iter().any(|l| l.level == LogLevel::Debug), "decisions are logged at debug");
    assert!(host.wasi_output().is_empty(), "{:?}", host.wasi_output());
}

#[test]
fn signature_block_adds_a_header_the_backend_verifies_and_a_spoofed_one_is_replaced() {
    let config_text = r#"{"headers": [{"name": "x-client-cert-sub", "value": "subject"},
                                      {"name": "x-client-cert-spiffe-id", "value": "spiffe_id", "encoding": "raw"}],
                          "signature": {"keys": [{"id": "edge-1", "secret": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}]}}"#;
    let config = Config::from_json(config_text).expect("valid config");
    let now = at("2030-01-01T00:00:00Z");
    let pem = cert("spiffe.pem");
    let mut host = FilterHost::new().plugin_config(config_text).peer_certificate(&pem).now(now).start();
    let outcome = host.request().header("X-Client-Cert-Signature", "v1;kid=edge-1;t=1;sig=forged").send();
    outcome.assert_allowed();

    let Decision::Allow { headers } = certprop::decide(&certprop::parse(&pem).expect("parses"), &config, now) else {
        panic!("the core denies spiffe.pem");
    };
    let signature = headers.last().expect("a signature header");
    assert_eq!(outcome.header_values("x-client-cert-signature"), vec![signature.value.clone()]);

    let seen = outcome.printable_headers();
    let seen: Vec<(&str, &str)> = seen.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let verified = certprop::verify(&config, &seen, now).expect("the filter's headers verify");
    assert_eq!(verified.key_id, "edge-1");
    assert_eq!(verified.headers.len(), 1, "spiffe.pem has an empty subject: only its SPIFFE ID is signed and set");
}
