//! The built `certprop-authorizer` binary against a Lambda Runtime API served by the test
//! (`certprop_tests::runtime_api`): one process answers a series of events, each checked; a bad
//! `CERTPROP_CONFIG` fails the init with the ConfigError in the log.

use std::time::{Duration, Instant, SystemTime};

use certprop::{Config, Decision};
use certprop_tests::authorizer::{fixture, http_event as http, rest_event, Authorizer};
use certprop_tests::repo_root;
use certprop_tests::runtime_api::{Invocation, RuntimeApi};
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(20);
const CONFIG: &str = r#"{"headers":[{"name":"x-client-cert-sub","value":"subject"},
                                   {"name":"x-client-cert-fingerprint","value":"sha256","encoding":"raw"}]}"#;

fn pem(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("certs").join(name)).unwrap()
}

fn expected_context(cert: &str) -> Value {
    let identity = certprop::parse(pem(cert).as_bytes()).unwrap();
    match certprop::decide(&identity, &Config::from_json(CONFIG).unwrap(), SystemTime::now()) {
        Decision::Allow { headers } => {
            headers.into_iter().map(|h| (certprop::context_key(&h.name), Value::String(h.value))).collect()
        }
        Decision::Deny { reason } => panic!("{cert} denied: {reason}"),
    }
}

fn response(invocation: Invocation) -> Value {
    match invocation {
        Invocation::Response(value) => value,
        Invocation::Error { body, .. } => panic!("expected a response, got the error {body}"),
    }
}

#[test]
fn one_process_answers_a_series_of_events() {
    let api = RuntimeApi::start().unwrap();
    let started = Instant::now();
    let function = Authorizer::start(&api, CONFIG);
    let method_arn = fixture("rest-request.json")["methodArn"].clone();

    let allowed = response(api.invoke(&rest_event(Some(&pem("client.pem"))), TIMEOUT).unwrap());
    eprintln!("first answer {:?} after exec", started.elapsed());
    let client = certprop::parse(pem("client.pem").as_bytes()).unwrap();
    assert_eq!(
        allowed,
        json!({
            "principalId": client.subject_rfc4514(),
            "policyDocument": {"Version": "2012-10-17",
                               "Statement": [{"Action": ["execute-api:Invoke"], "Effect": "Allow", "Resource": [method_arn]}]},
            "context": expected_context("client.pem"),
            "usageIdentifierKey": null
        })
    );

    let allowed = response(api.invoke(&http(&pem("client-b.pem")), TIMEOUT).unwrap());
    assert_eq!(allowed, json!({"isAuthorized": true, "context": expected_context("client-b.pem")}));

    let denied = response(api.invoke(&rest_event(Some(&pem("expired.pem"))), TIMEOUT).unwrap());
    assert_eq!(denied["policyDocument"]["Statement"][0]["Effect"], "Deny");
    assert_eq!(denied["context"], json!({"denyReason": "expired"}));

    let unauthorized = api.invoke(&rest_event(None), TIMEOUT).unwrap();
    let Invocation::Error { body, .. } = unauthorized else { panic!("expected an error, got {unauthorized:?}") };
    assert_eq!(body["errorMessage"], "Unauthorized", "API Gateway answers 401 only for exactly this message");
    assert_eq!(body["errorType"], "Unauthorized");

    let malformed = response(api.invoke(&rest_event(Some(&pem("garbage.pem"))), TIMEOUT).unwrap());
    assert_eq!(malformed["context"], json!({"denyReason": "malformed_certificate"}));

    let hostile = response(api.invoke(&http(&pem("hostile-crlf.pem")), TIMEOUT).unwrap());
    assert_eq!(hostile, json!({"isAuthorized": true, "context": expected_context("hostile-crlf.pem")}));

    let mut no_arn = rest_event(Some(&pem("client.pem")));
    no_arn.as_object_mut().unwrap().remove("methodArn");
    let Invocation::Error { body, .. } = api.invoke(&no_arn, TIMEOUT).unwrap() else { panic!("expected an error") };
    assert_eq!(body["errorType"], "MissingMethodArn");

    let not_an_event = api.invoke(&json!("hello"), TIMEOUT).unwrap();
    assert!(matches!(not_an_event, Invocation::Error { .. }), "{not_an_event:?}");

    // Still the same process, still answering.
    let again = response(api.invoke(&rest_event(Some(&pem("client.pem"))), TIMEOUT).unwrap());
    assert_eq!(again["context"], expected_context("client.pem"));
    let deadline = Instant::now() + TIMEOUT;
    while api.next_calls() < 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(api.next_calls(), 10, "nine events, then waiting for the tenth");
    assert_eq!(api.init_error(), None);

    let log = function.stop();
    let lines: Vec<Value> = log.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    assert_eq!(lines.len(), log.lines().count(), "every log line is one JSON object:\n{log}");
    assert!(!log.contains("BEGIN CERTIFICATE"), "no PEM in the log:\n{log}");
    let decisions: Vec<&Value> = lines.iter().filter(|line| line.get("decision").is_some()).collect();
    let words: Vec<(&str, Option<&str>)> =
        decisions.iter().map(|d| (d["decision"].as_str().unwrap(), d["reason"].as_str())).collect();
    assert_eq!(
        words,
        [
            ("allow", None),
            ("allow", None),
            ("deny", Some("expired")),
            ("deny", Some("missing_certificate")),
            ("deny", Some("malformed_certificate")),
            ("allow", None),
            ("allow", None),
            ("allow", None),
        ],
        "one decision line per decided event:\n{log}"
    );
    let first = decisions[0];
    assert_eq!(first["subject"], client.subject_rfc4514());
    assert_eq!(first["serial"], client.serial_hex());
    assert_eq!(first["fingerprint"], client.sha256_hex());
    assert_eq!(first["api"], "rest");
    assert_eq!(decisions[1]["api"], "http");
}

#[test]
fn a_bad_config_fails_the_init_with_the_config_error_in_the_log() {
    for (config, error) in [
        (r#"{"headers":[{"name":"x-a","value":"nope"}]}"#, "config headers[0].value: expected one of subject"),
        (r#"{"preset":"aws-sample","colour":"blue"}"#, "config"),
        ("{not json", "config is not valid JSON"),
    ] {
        let api = RuntimeApi::start().unwrap();
        let function = Authorizer::start(&api, config);
        let (status, log) = function.wait_exit(TIMEOUT);
        assert_eq!(status, Some(1), "{config}: {log}");
        assert!(log.contains(error), "{config}: the log names the error {error:?}:\n{log}");
        assert!(log.lines().all(|line| serde_json::from_str::<Value>(line).is_ok()), "{log}");
        assert_eq!(api.next_calls(), 0, "{config}: a failed init asks for no event");
    }
}
