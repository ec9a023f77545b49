//! The built `certprop-authorizer` under malformed events, through the Lambda Runtime API served
//! by the test: missing fields, fields of the wrong type, a 1 MB PEM, payloads that are not JSON.
//! Every one is answered `Unauthorized` (API Gateway: 401) or with a Deny (403), by the same
//! process, which goes on answering: never an error that API Gateway turns into a 500, never a
//! panic or a dead process.

use std::time::Duration;

use certprop_tests::authorizer::{http_event, rest_event, Authorizer};
use certprop_tests::repo_root;
use certprop_tests::runtime_api::{Invocation, RuntimeApi};
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(20);

/// What API Gateway makes of the function's answer.
#[derive(Debug, PartialEq)]
enum Answer {
    /// The error `Unauthorized`: 401.
    Unauthorized,
    /// A policy with Effect Deny, or `isAuthorized: false`: 403, with the deny reason.
    Deny(String),
    /// An Allow.
    Allow,
}

fn answer(invocation: Invocation) -> Answer {
    match invocation {
        Invocation::Error { body, .. } => {
            assert_eq!(body["errorMessage"], "Unauthorized", "an error other than Unauthorized is a 500: {body}");
            assert_eq!(body["errorType"], "Unauthorized", "{body}");
            Answer::Unauthorized
        }
        Invocation::Response(response) => {
            let allowed = match response.get("isAuthorized") {
                Some(authorized) => authorized == &json!(true),
                None => response["policyDocument"]["Statement"][0]["Effect"] == "Allow",
            };
            if allowed {
                Answer::Allow
            } else {
                Answer::Deny(response["context"]["denyReason"].as_str().unwrap_or_default().to_owned())
            }
        }
    }
}

fn pem(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("certs").join(name)).expect("a certificate in certs/")
}

fn without(mut event: Value, pointer: &str, field: &str) -> Value {
    event.pointer_mut(pointer).and_then(Value::as_object_mut).expect(pointer).remove(field);
    event
}

fn with(mut event: Value, pointer: &str, value: Value) -> Value {
    *event.pointer_mut(pointer).expect(pointer) = value;
    event
}

#[test]
fn malformed_events_are_unauthorized_or_denied_and_the_process_lives_on() {
    let client = pem("client.pem");
    let rest = || rest_event(Some(&client));
    let http = || http_event(&client);
    let megabyte_pem = format!("{client}{}", "A".repeat(1 << 20));
    let megabyte_block =
        format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", "QUJD".repeat(1 << 18));
    let unauthorized = || Answer::Unauthorized;
    let malformed = || Answer::Deny("malformed_certificate".to_owned());

    let events: Vec<(&str, Vec<u8>, Answer)> = vec![
        ("empty object", b"{}".to_vec(), unauthorized()),
        ("no requestContext", to_bytes(without(rest(), "", "requestContext")), unauthorized()),
        ("no identity", to_bytes(without(rest(), "/requestContext", "identity")), unauthorized()),
        (
            "clientCert without clientCertPem",
            to_bytes(without(rest(), "/requestContext/identity/clientCert", "clientCertPem")),
            unauthorized(),
        ),
        (
            "clientCertPem null",
            to_bytes(with(rest(), "/requestContext/identity/clientCert/clientCertPem", Value::Null)),
            unauthorized(),
        ),
        (
            "clientCertPem empty",
            to_bytes(with(rest(), "/requestContext/identity/clientCert/clientCertPem", json!(""))),
            unauthorized(),
        ),
        (
            "clientCertPem a number",
            to_bytes(with(rest(), "/requestContext/identity/clientCert/clientCertPem", json!(12345))),
            unauthorized(),
        ),
        (
            "clientCertPem an array",
            to_bytes(with(rest(), "/requestContext/identity/clientCert/clientCertPem", json!([client]))),
            unauthorized(),
        ),
        (
            "clientCert a string",
            to_bytes(with(rest(), "/requestContext/identity/clientCert", json!("cert"))),
            unauthorized(),
        ),
        ("identity an array", to_bytes(with(rest(), "/requestContext/identity", json!([]))), unauthorized()),
        ("requestContext a string", to_bytes(with(rest(), "/requestContext", json!("context"))), unauthorized()),
        ("methodArn a number", to_bytes(with(rest(), "/methodArn", json!(42))), unauthorized()),
        ("the event an array", to_bytes(json!([rest()])), unauthorized()),
        ("the event a number", b"7".to_vec(), unauthorized()),
        ("the event null", b"null".to_vec(), unauthorized()),
        ("HTTP API: no authentication", to_bytes(without(http(), "/requestContext", "authentication")), unauthorized()),
        (
            "HTTP API: authentication a string",
            to_bytes(with(http(), "/requestContext/authentication", json!("mtls"))),
            unauthorized(),
        ),
        (
            "HTTP API: clientCertPem an object",
            to_bytes(with(http(), "/requestContext/authentication/clientCert/clientCertPem", json!({"pem": client}))),
            unauthorized(),
        ),
        ("1 MB PEM (a certificate, then 1 MB of text)", to_bytes(rest_event(Some(&megabyte_pem))), malformed()),
        ("1 MB PEM block", to_bytes(rest_event(Some(&megabyte_block))), malformed()),
        ("HTTP API: 1 MB PEM", to_bytes(http_event(&megabyte_pem)), malformed()),
        ("not JSON", b"this is not JSON".to_vec(), unauthorized()),
        (
            "truncated JSON",
            br#"{"requestContext": {"identity": {"clientCert": {"clientCertPem": "-----BEGIN"#.to_vec(),
            unauthorized(),
        ),
        ("empty payload", Vec::new(), unauthorized()),
        ("invalid UTF-8", b"{\"methodArn\": \"\xff\xfe\"}".to_vec(), unauthorized()),
        ("a lone surrogate escape", br#"{"methodArn": "\ud800"}"#.to_vec(), unauthorized()),
        // Caller-controlled fields of the wrong type do not hide the certificate's decision.
        ("headers a number", to_bytes(with(rest(), "/headers", json!(5))), Answer::Allow),
    ];

    let api = RuntimeApi::start().expect("runtime API");
    let function = Authorizer::start(&api, "{}");
    let mut results = Vec::new();
    for (what, body, expected) in events {
        let invocation = api.invoke_bytes(body, TIMEOUT).unwrap_or_else(|e| panic!("{what}: {e}"));
        let got = answer(invocation);
        assert_eq!(got, expected, "{what}");
        results.push(format!("{what}: {got:?}"));
    }
    // The same process still decides ordinary events.
    let allowed = api.invoke(&rest_event(Some(&client)), TIMEOUT).expect("an answer");
    assert_eq!(answer(allowed), Answer::Allow);
    assert_eq!(api.init_error(), None);
    let log = function.stop();
    assert!(!log.contains("panicked"), "a panic in the log:\n{log}");
    assert!(!log.contains(&"A".repeat(1000)), "the PEM is never logged");
    eprintln!("{}", results.join("\n"));
}

fn to_bytes(event: Value) -> Vec<u8> {
    serde_json::to_vec(&event).expect("JSON")
}
