//! The handler called directly with fixture events in API Gateway's real shapes
//! (`fixtures/rest-request.json`, `fixtures/http-request.json`), with certificates from `certs/`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use certprop::Config;
use certprop_authorizer::{authorize, config_from_env, AuthorizerError, AuthorizerEvent, AuthorizerResponse};
use serde_json::{json, Value};

const METHOD_ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/GET/orders";
const CLIENT_SUBJECT: &str = r"CN=client-a,OU=Payments,O=Acme\, Inc.,C=US";
const CLIENT_NODE_SUBJECT: &str = r"C=US,O=Acme\, Inc.,OU=Payments,CN=client-a";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_798_761_600) // 2027-01-01
}

fn pem(name: &str) -> String {
    std::fs::read_to_string(repo().join("certs").join(name)).unwrap()
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(repo().join("lambda/tests/fixtures").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The REST fixture with `clientCertPem` set to `pem` (or the whole `clientCert` removed for `None`).
fn rest(pem: Option<&str>) -> Value {
    let mut event = fixture("rest-request.json");
    set_cert(&mut event, "/requestContext/identity", pem);
    event
}

fn http(pem: Option<&str>) -> Value {
    let mut event = fixture("http-request.json");
    set_cert(&mut event, "/requestContext/authentication", pem);
    event
}

fn set_cert(event: &mut Value, parent: &str, pem: Option<&str>) {
    let parent = event.pointer_mut(parent).unwrap().as_object_mut().unwrap();
    match pem {
        Some(pem) => parent["clientCert"]["clientCertPem"] = json!(pem),
        None => {
            parent.remove("clientCert");
        }
    }
}

fn config(text: &str) -> Config {
    Config::from_json(text).unwrap()
}

async fn run(config: &Config, event: Value) -> Result<Value, AuthorizerError> {
    let event: AuthorizerEvent = serde_json::from_value(event).unwrap();
    authorize(config, event, now()).await.map(|response| serde_json::to_value(response).unwrap())
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn rest_response(effect: &str, principal: &str, context: Value) -> Value {
    json!({
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": ["execute-api:Invoke"], "Effect": effect, "Resource": [METHOD_ARN]}]
        },
        "context": context,
        "usageIdentifierKey": null
    })
}

#[tokio::test]
async fn rest_allow_is_an_iam_allow_with_the_subject_and_the_header_values_in_context() {
    let response = run(&Config::default(), rest(Some(&pem("client.pem")))).await.unwrap();
    assert_eq!(response, rest_response("Allow", CLIENT_SUBJECT, json!({"clientCertSub": b64(CLIENT_SUBJECT)})));
}

#[tokio::test]
async fn http_allow_is_a_simple_response() {
    let response = run(&Config::default(), http(Some(&pem("client.pem")))).await.unwrap();
    assert_eq!(response, json!({"isAuthorized": true, "context": {"clientCertSub": b64(CLIENT_SUBJECT)}}));
}

#[tokio::test]
async fn events_are_told_apart_by_their_version() {
    let event: AuthorizerEvent = serde_json::from_value(rest(Some("x"))).unwrap();
    assert!(matches!(event, AuthorizerEvent::Rest(_)));
    assert_eq!(event.client_cert_pem(), Some("x"));
    let event: AuthorizerEvent = serde_json::from_value(http(Some("y"))).unwrap();
    assert!(matches!(event, AuthorizerEvent::Http(_)));
    assert_eq!(event.client_cert_pem(), Some("y"));
    // A REST event never carries the HTTP API's place for the certificate, and the reverse.
    let mut crossed = rest(None);
    crossed["requestContext"]["authentication"] = json!({"clientCert": {"clientCertPem": "z", "validity": {}}});
    let event: AuthorizerEvent = serde_json::from_value(crossed).unwrap();
    assert_eq!(event.client_cert_pem(), None);
}

#[tokio::test]
async fn every_configured_header_is_in_context_under_its_key() {
    let config = config(
        r#"{"headers":[{"name":"x-client-cert-sub","value":"subject","encoding":"raw"},
                       {"name":"x-client-cert-serial","value":"serial","encoding":"raw"},
                       {"name":"client-cert-fingerprint","value":"sha256","encoding":"raw"},
                       {"name":"x-client-cert-dns","value":"san_dns","encoding":"raw"},
                       {"name":"x-spiffe-id","value":"spiffe_id","encoding":"raw"}]}"#,
    );
    let identity = certprop::parse(pem("client.pem").as_bytes()).unwrap();
    let response = run(&config, rest(Some(&pem("client.pem")))).await.unwrap();
    assert_eq!(
        response["context"],
        json!({
            "clientCertSub": CLIENT_SUBJECT,
            "clientCertSerial": identity.serial_hex(),
            "clientCertFingerprint": identity.sha256_hex(),
            "clientCertDns": "client-a.example.org",
        }),
        "a header whose value is absent (no SPIFFE ID) is not in context"
    );
    let keys: Vec<String> = config.headers().iter().map(|h| h.context_key()).collect();
    assert_eq!(keys, ["clientCertSub", "clientCertSerial", "clientCertFingerprint", "clientCertDns", "spiffeId"]);
}

#[tokio::test]
async fn aws_sample_preset_gives_the_samples_principal_and_header() {
    let config = config(r#"{"preset":"aws-sample"}"#);
    let response = run(&config, rest(Some(&pem("client.pem")))).await.unwrap();
    assert_eq!(response, rest_response("Allow", CLIENT_NODE_SUBJECT, json!({"clientCertSub": CLIENT_NODE_SUBJECT})));
    let response = run(&config, http(Some(&pem("client.pem")))).await.unwrap();
    assert_eq!(response, json!({"isAuthorized": true, "context": {"clientCertSub": CLIENT_NODE_SUBJECT}}));
}

#[tokio::test]
async fn an_empty_subject_gives_the_spiffe_id_as_principal_and_no_subject_header() {
    let response = run(&Config::default(), rest(Some(&pem("spiffe.pem")))).await.unwrap();
    assert_eq!(response, rest_response("Allow", "spiffe://example.org/ns/default/sa/client", json!({})));
    let response = run(&config(r#"{"preset":"aws-sample"}"#), rest(Some(&pem("spiffe.pem")))).await.unwrap();
    assert_eq!(response["principalId"], "spiffe://example.org/ns/default/sa/client");
}

#[tokio::test]
async fn policy_denials_are_iam_denies_with_the_reason() {
    for (cert, config_text, reason) in [
        ("expired.pem", "{}", "expired"),
        ("not-yet-valid.pem", "{}", "not_yet_valid"),
        ("huge-subject.pem", "{}", "header_too_large"),
        ("no-eku.pem", r#"{"policy":{"require_client_auth_eku":true}}"#, "missing_client_auth_eku"),
        ("client-b.pem", r#"{"policy":{"allow":[{"subject":"CN=client-a,OU=Payments,O=Acme\\, Inc.,C=US"}]}}"#, "policy_denied"),
        ("client.pem", r#"{"headers":[{"name":"x-der","value":"cert","encoding":"raw"}]}"#, "unsafe_header_value"),
    ] {
        let config = config(config_text);
        let identity = certprop::parse(pem(cert).as_bytes()).unwrap();
        let response = run(&config, rest(Some(&pem(cert)))).await.unwrap();
        assert_eq!(
            response,
            rest_response("Deny", &certprop_authorizer::principal_id(&identity, &config), json!({"denyReason": reason})),
            "{cert}"
        );
        let response = run(&config, http(Some(&pem(cert)))).await.unwrap();
        assert_eq!(response, json!({"isAuthorized": false, "context": {"denyReason": reason}}), "{cert}");
    }
}

#[tokio::test]
async fn a_malformed_certificate_is_denied_not_an_error() {
    for bad in [pem("garbage.pem"), "not a certificate".to_owned(), "-----BEGIN CERTIFICATE-----\nAAAA".to_owned(), "\u{0}\u{1}".to_owned()]
    {
        let response = run(&Config::default(), rest(Some(&bad))).await.unwrap();
        assert_eq!(response, rest_response("Deny", "anonymous", json!({"denyReason": "malformed_certificate"})));
        let response = run(&Config::default(), http(Some(&bad))).await.unwrap();
        assert_eq!(response["isAuthorized"], false);
    }
}

#[tokio::test]
async fn a_missing_certificate_is_unauthorized_wherever_it_is_missing() {
    let config = Config::default();
    let mut events = vec![rest(None), http(None), rest(Some("")), http(Some("  \n"))];
    let mut no_identity = rest(None);
    no_identity["requestContext"].as_object_mut().unwrap().remove("identity");
    events.push(no_identity);
    let mut null_cert = rest(None);
    null_cert["requestContext"]["identity"]["clientCert"] = Value::Null;
    events.push(null_cert);
    let mut no_pem = rest(Some("x"));
    no_pem["requestContext"]["identity"]["clientCert"].as_object_mut().unwrap().remove("clientCertPem");
    events.push(no_pem);
    let mut no_authentication = http(None);
    no_authentication["requestContext"].as_object_mut().unwrap().remove("authentication");
    events.push(no_authentication);
    for event in events {
        assert_eq!(run(&config, event.clone()).await, Err(AuthorizerError::Unauthorized), "{event}");
    }
    let diagnostic = lambda_runtime::Diagnostic::from(AuthorizerError::Unauthorized);
    assert_eq!((diagnostic.error_type.as_str(), diagnostic.error_message.as_str()), ("Unauthorized", "Unauthorized"));
}

#[tokio::test]
async fn on_missing_cert_allow_lets_the_request_through_with_an_empty_context() {
    let config = config(r#"{"on_missing_cert":"allow"}"#);
    assert_eq!(run(&config, rest(None)).await.unwrap(), rest_response("Allow", "anonymous", json!({})));
    assert_eq!(run(&config, http(None)).await.unwrap(), json!({"isAuthorized": true, "context": {}}));
}

#[tokio::test]
async fn a_rest_event_without_method_arn_is_an_error_not_a_policy() {
    let mut event = rest(Some(&pem("client.pem")));
    event.as_object_mut().unwrap().remove("methodArn");
    assert_eq!(run(&Config::default(), event).await, Err(AuthorizerError::MissingMethodArn));
}

#[tokio::test]
async fn caller_headers_that_do_not_type_still_get_a_decision() {
    let mut event = rest(Some(&pem("client.pem")));
    event["headers"]["X-Odd"] = json!("a\u{1}b");
    event["multiValueHeaders"]["X-Odd"] = json!(["a\u{1}b"]);
    let response = run(&Config::default(), event).await.unwrap();
    assert_eq!(response["policyDocument"]["Statement"][0]["Effect"], "Allow");
    let mut event = http(Some(&pem("client.pem")));
    event["headers"]["x-odd"] = json!("a\rb");
    assert_eq!(run(&Config::default(), event).await.unwrap()["isAuthorized"], true);
}

#[tokio::test]
async fn hostile_and_unicode_subjects_stay_single_line_strings() {
    for cert in ["hostile-crlf.pem", "unicode.pem", "multi-rdn.pem"] {
        for config_text in ["{}", r#"{"preset":"aws-sample"}"#] {
            let response = run(&config(config_text), rest(Some(&pem(cert)))).await.unwrap();
            let principal = response["principalId"].as_str().unwrap();
            assert!(!principal.is_empty() && !principal.contains(['\r', '\n', '\0']), "{cert}: {principal:?}");
            for value in response["context"].as_object().unwrap().values() {
                assert!(certprop::is_safe_header_value(value.as_str().unwrap()), "{cert}: {value}");
            }
        }
    }
}

#[tokio::test]
async fn the_chain_and_der_forms_are_not_what_api_gateway_sends_but_the_leaf_is_used() {
    let response = run(&Config::default(), rest(Some(&pem("chain.pem")))).await.unwrap();
    assert_eq!(response["principalId"], CLIENT_SUBJECT);
}

#[test]
fn config_comes_from_the_env_value_and_defaults_to_the_empty_config() {
    assert_eq!(config_from_env(None).unwrap(), Config::default());
    assert_eq!(config_from_env(Some(" \n")).unwrap(), Config::default());
    assert_eq!(config_from_env(Some(r#"{"preset":"aws-sample"}"#)).unwrap(), config(r#"{"preset":"aws-sample"}"#));
    let error = config_from_env(Some(r#"{"headers":[{"name":"x-a","value":"nope"}]}"#)).unwrap_err();
    assert!(error.to_string().starts_with("config headers[0].value: expected one of subject"), "{error}");
}

#[test]
fn responses_serialize_untagged() {
    let mut simple = aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerSimpleResponse::default();
    simple.is_authorized = true;
    let value = serde_json::to_value(AuthorizerResponse::Http(simple)).unwrap();
    assert_eq!(value, json!({"isAuthorized": true, "context": {}}));
}

#[tokio::test]
async fn a_signature_block_puts_the_signature_in_context_for_its_header_and_it_verifies() {
    let config = config(
        r#"{"headers":[{"name":"x-client-cert-sub","value":"subject"}],
            "signature":{"header":"x-identity-signature",
                         "keys":[{"id":"edge-1","secret":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}]}}"#,
    );
    let response = run(&config, http(Some(&pem("client.pem")))).await.unwrap();
    let context = response["context"].as_object().unwrap();
    assert_eq!(context.keys().collect::<Vec<_>>(), ["clientCertSub", "identitySignature"]);

    // API Gateway maps each context key to its header: what the backend then receives verifies.
    let headers = [("x-client-cert-sub", &context["clientCertSub"]), ("x-identity-signature", &context["identitySignature"])];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (*name, value.as_str().unwrap())).collect();
    let verified = certprop::verify(&config, &headers, now()).unwrap();
    assert_eq!((verified.key_id.as_str(), verified.headers.len()), ("edge-1", 1));
}
