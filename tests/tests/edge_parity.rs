//! Edge parity, the product's promise: for the same certificate and the same config, the backend
//! receives the same header bytes behind Envoy and behind API Gateway.
//!
//! ```text
//!  certificate ──► certprop_filter.wasm (wasmtime proxy-wasm host) ──► headers set | 403 reason
//!       │
//!       └──► REST event ──► certprop-authorizer (Runtime API) ──► context ──► the mapping
//!            sam/template.yaml makes (header ← context.authorizer.<key>) ──► headers | 403 | 401
//! ```
//!
//! Over every certificate under `certs/` and a sample of pyca's `cryptography_vectors`, with the
//! default config, each preset, a config that sets every value in every encoding, and a signed
//! config. Both edges read the real clock, so a signature's time may differ by a second: it is
//! compared by what `certprop::verify` makes of it. Needs the built `.wasm` and authorizer
//! (`make test` builds both).

use std::collections::BTreeMap;

use certprop::Config;
use certprop_tests::authorizer::{answers, rest_event};
use certprop_tests::certificate_samples;
use certprop_tests::proxy_wasm_host::FilterHost;
use serde_json::Value;

/// Every how-many-th DER file of the vectors joins the sample (every PEM file does).
const DER_SAMPLE_EVERY: usize = 3;

const EVERY_VALUE: &str = r#"{"headers":[
    {"name":"x-subject","value":"subject"},
    {"name":"x-subject-node","value":"subject_node","encoding":"base64url"},
    {"name":"x-issuer","value":"issuer","encoding":"percent"},
    {"name":"x-serial","value":"serial","encoding":"raw"},
    {"name":"x-not-before","value":"not_before","encoding":"raw"},
    {"name":"x-not-after","value":"not_after","encoding":"raw"},
    {"name":"x-sha256","value":"sha256","encoding":"raw"},
    {"name":"x-spiffe-id","value":"spiffe_id","encoding":"percent"},
    {"name":"x-san-dns","value":"san_dns"},
    {"name":"x-san-uri","value":"san_uri","encoding":"base64url"},
    {"name":"x-san-email","value":"san_email","encoding":"percent"},
    {"name":"x-san-ip","value":"san_ip","encoding":"raw"},
    {"name":"x-cn","value":"cn","encoding":"percent"},
    {"name":"x-org","value":"attr:O"},
    {"name":"x-cert","value":"cert"},
    {"name":"x-json","value":"json","encoding":"base64url"}],
  "max_header_bytes":65536,"policy":{"check_validity":false}}"#;

const SIGNED: &str = r#"{"headers":[{"name":"x-client-cert-sub","value":"subject"},
                                   {"name":"x-client-cert-spiffe-id","value":"spiffe_id","encoding":"raw"}],
  "signature":{"keys":[{"id":"edge-1","secret":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}]}}"#;

const CONFIGS: &[&str] = &[
    "{}",
    r#"{"preset":"aws-sample"}"#,
    r#"{"preset":"rfc9440"}"#,
    r#"{"preset":"xfcc"}"#,
    r#"{"preset":"alb"}"#,
    EVERY_VALUE,
    SIGNED,
];

/// What the backend gets: the identity headers, or the reason for the refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Headers(BTreeMap<String, String>),
    Denied(String),
}

/// The filter's outcome for each certificate (`None`: a connection without one).
/// The headers a backend sees, with a signature replaced by the key id it verifies with.
fn seen_headers(config: &Config, headers: BTreeMap<String, String>) -> Seen {
    let Some(signature) = config.signature() else { return Seen::Headers(headers) };
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let verified = match certprop::verify(config, &pairs, std::time::SystemTime::now()) {
        Ok(verified) => format!("verified with {}", verified.key_id),
        Err(error) => format!("not verified: {error}"),
    };
    let mut headers = headers;
    headers.insert(signature.header().to_owned(), verified);
    Seen::Headers(headers)
}

/// Every header the config can set: its identity headers, and the signature header.
fn output_names(config: &Config) -> Vec<String> {
    let mut names: Vec<String> = config.headers().iter().map(|h| h.name.clone()).collect();
    names.extend(config.signature().map(|s| s.header().to_owned()));
    names
}

fn through_filter(config: &str, pems: &[Option<&str>]) -> Vec<Seen> {
    let parsed = Config::from_json(config).expect("valid config");
    let names = output_names(&parsed);
    let mut host = FilterHost::new().plugin_config(config).start();
    pems.iter()
        .map(|pem| {
            match pem {
                Some(pem) => host.set_peer_certificate(pem.as_bytes()),
                None => {
                    host.remove_property(&["connection", "peer_certificate"]);
                    host.remove_property(&["connection", "sha256_peer_certificate_digest"]);
                }
            }
            let outcome = host.request().send();
            match &outcome.local_response {
                Some(response) => Seen::Denied(response.json()["reason"].as_str().unwrap_or_default().to_owned()),
                None => seen_headers(&parsed, names.iter().filter_map(|n| outcome.header(n).map(|v| (n.clone(), v))).collect()),
            }
        })
        .collect()
}

/// API Gateway's outcome for each certificate: the authorizer's answer through the header
/// mapping the SAM template makes (each header from its context key).
fn through_api_gateway(config: &str, pems: &[Option<&str>]) -> Vec<Seen> {
    let parsed = Config::from_json(config).expect("valid config");
    let events: Vec<Value> = pems.iter().map(|pem| rest_event(*pem)).collect();
    let event_refs: Vec<&Value> = events.iter().collect();
    answers(config, &event_refs)
        .into_iter()
        .map(|answer| match answer {
            Err(message) if message == "Unauthorized" => Seen::Denied("missing_certificate".into()),
            Err(message) => panic!("the authorizer failed: {message}"),
            Ok(response) => {
                let effect = response["policyDocument"]["Statement"][0]["Effect"].as_str().unwrap_or_default();
                let context = &response["context"];
                if effect == "Allow" {
                    let headers = output_names(&parsed)
                        .into_iter()
                        .filter_map(|name| context[certprop::context_key(&name)].as_str().map(|v| (name, v.to_owned())))
                        .collect();
                    seen_headers(&parsed, headers)
                } else {
                    Seen::Denied(context["denyReason"].as_str().unwrap_or_default().to_owned())
                }
            }
        })
        .collect()
}

#[test]
fn both_edges_give_the_backend_the_same_bytes() {
    let samples = certificate_samples(DER_SAMPLE_EVERY);
    assert!(samples.len() > 250, "expected certs/ and the vectors, found {} samples", samples.len());
    let mut names = vec!["(no certificate)".to_owned()];
    names.extend(samples.iter().map(|s| s.name.clone()));
    let mut pems: Vec<Option<&str>> = vec![None];
    pems.extend(samples.iter().map(|s| Some(s.pem.as_str())));

    let mut failures = Vec::new();
    for config in CONFIGS {
        let envoy = through_filter(config, &pems);
        let api_gateway = through_api_gateway(config, &pems);
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for ((name, envoy), api_gateway) in names.iter().zip(&envoy).zip(&api_gateway) {
            if envoy != api_gateway {
                failures.push(format!("{config}\n  {name}\n  envoy:       {envoy:?}\n  api gateway: {api_gateway:?}"));
                continue;
            }
            let key = match envoy {
                Seen::Headers(headers) if headers.values().any(|v| v.starts_with("not verified")) => {
                    failures.push(format!("{config}\n  {name}\n  signature: {headers:?}"));
                    continue;
                }
                Seen::Headers(headers) if headers.is_empty() => "allowed, no header".to_owned(),
                Seen::Headers(_) => "allowed, same headers".to_owned(),
                Seen::Denied(reason) => format!("denied {reason}"),
            };
            *counts.entry(key).or_default() += 1;
        }
        println!("{}: {counts:?}", config.split_whitespace().collect::<String>().chars().take(40).collect::<String>());
        assert!(counts.get("allowed, same headers").copied().unwrap_or(0) > 100, "{config}: {counts:?}");
    }
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
}
