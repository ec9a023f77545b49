//! `certprop-authorizer`: certprop at the API Gateway edge, as a Lambda REQUEST authorizer.
//!
//! API Gateway has already verified the client certificate in the mTLS handshake against the
//! custom domain's truststore; it hands the PEM to this authorizer, which asks the core what the
//! backend may learn about the caller:
//!
//! ```text
//!  API Gateway ──event──► AuthorizerEvent::Rest  (requestContext.identity.clientCert.clientCertPem, methodArn)
//!                         AuthorizerEvent::Http  (requestContext.authentication.clientCert.clientCertPem)
//!                              │ certprop::parse → certprop::decide(&Config, now)
//!                              ▼
//!  Allow{headers} ──► REST: IAM Allow on methodArn, principalId, context {clientCertSub: …}
//!                     HTTP: {isAuthorized: true, context: {clientCertSub: …}}
//!  Deny{missing_certificate} ──► error "Unauthorized" (API Gateway answers 401)
//!  AuthorizerEvent::Unreadable (wrong field types, not JSON) ──► error "Unauthorized" as well
//!  Deny{other reason} ──► REST: IAM Deny, HTTP: {isAuthorized: false} (403); context {denyReason}
//!                              │
//!  API Gateway maps context.authorizer.<key> to each configured header ──► backend
//! ```
//!
//! Every header value the core renders goes into `context` under [`certprop::context_key`] of its
//! header name (`x-client-cert-sub` → `clientCertSub`); the SAM template maps each key back to the
//! header, so the backend sees the same bytes as behind the Envoy filter. A header whose value is
//! absent (no SPIFFE ID, empty subject) is not in `context`.
//!
//! `principalId` is the RFC 4514 subject; with preset `aws-sample` it is the AWS sample's subject
//! text (Node's `X509Certificate.subject`, lines joined by commas), so this authorizer is a drop-in
//! for the sample. A certificate with an empty subject (a SPIFFE X.509-SVID) gets its SPIFFE ID,
//! and failing that the SHA-256 fingerprint of its DER in lowercase hex.
//!
//! Start reading at [`authorize`]; `main.rs` only reads `CERTPROP_CONFIG` once with
//! [`config_from_env`] and hands [`authorize`] to the Lambda runtime. Each decision is logged
//! as one JSON line (decision, reason, subject, serial, fingerprint; never the PEM).

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use certprop::{Config, ConfigError, Decision, DenyReason, Identity, Preset};
use serde::{Deserialize, Serialize};

/// The authorizer `context`: string values under their context keys, in key order.
pub type AuthorizerContext = BTreeMap<String, String>;

/// The context key under which a denied response names its [`DenyReason`] (for gateway responses).
pub const DENY_REASON_KEY: &str = "denyReason";

/// `principalId` of a request allowed without a certificate (`on_missing_cert: allow`).
pub const ANONYMOUS_PRINCIPAL: &str = "anonymous";

/// An authorizer event from either kind of API, told apart by the event itself: an HTTP API
/// event with payload format 2.0 says `"version": "2.0"`; anything else is read as a REST API
/// REQUEST authorizer event.
#[derive(Clone, Debug)]
pub enum AuthorizerEvent {
    /// REST API REQUEST authorizer: certificate at `requestContext.identity.clientCert`.
    Rest(Box<ApiGatewayCustomAuthorizerRequestTypeRequest>),
    /// HTTP API authorizer, payload format 2.0: certificate at `requestContext.authentication.clientCert`.
    Http(Box<ApiGatewayV2CustomAuthorizerV2Request>),
    /// Not an authorizer event of either shape (not an object, a field of the wrong type, not
    /// JSON at all: see [`non_json_as_null`]), with why. API Gateway never sends one; it is
    /// answered `Unauthorized`, never with an error that API Gateway would turn into a 500.
    Unreadable(String),
}

/// What the authorizer answers API Gateway.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum AuthorizerResponse {
    /// REST API: an IAM policy for `methodArn`, `principalId` and `context`.
    Rest(ApiGatewayCustomAuthorizerResponse<AuthorizerContext>),
    /// HTTP API simple response: `{isAuthorized, context}`.
    Http(ApiGatewayV2CustomAuthorizerSimpleResponse<AuthorizerContext>),
}

/// Why the authorizer answered with an error instead of a policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizerError {
    /// No client certificate (and `on_missing_cert` is `deny`): API Gateway answers 401.
    #[error("Unauthorized")]
    Unauthorized,
    /// A REST event without `methodArn`: the integration is misconfigured (API Gateway answers 500).
    #[error("the authorizer event has no methodArn")]
    MissingMethodArn,
}

impl From<AuthorizerError> for lambda_runtime::Diagnostic {
    fn from(error: AuthorizerError) -> Self {
        let error_type = match error {
            AuthorizerError::Unauthorized => "Unauthorized",
            AuthorizerError::MissingMethodArn => "MissingMethodArn",
        };
        lambda_runtime::Diagnostic { error_type: error_type.into(), error_message: error.to_string() }
    }
}

/// Reads the config document from the value of `CERTPROP_CONFIG`; unset or blank is `{}`.
pub fn config_from_env(value: Option<&str>) -> Result<Config, ConfigError> {
    match value.map(str::trim) {
        None | Some("") => Ok(Config::default()),
        Some(text) => Config::from_json(text),
    }
}

/// Decides one authorizer event at time `now` and builds API Gateway's answer.
pub async fn authorize(
    config: &Config,
    event: AuthorizerEvent,
    now: SystemTime,
) -> Result<AuthorizerResponse, AuthorizerError> {
    let api = event.api();
    if let AuthorizerEvent::Unreadable(error) = &event {
        tracing::warn!(api, error = %error, "not an authorizer event: answering Unauthorized");
        return Err(AuthorizerError::Unauthorized);
    }
    let parsed = event.client_cert_pem().map(|pem| certprop::parse(pem.as_bytes()));
    let decision = match &parsed {
        None => certprop::decide_without_certificate(config),
        Some(Ok(identity)) => certprop::decide(identity, config, now),
        Some(Err(_)) => Decision::Deny { reason: DenyReason::MalformedCertificate },
    };
    let identity = parsed.as_ref().and_then(|p| p.as_ref().ok());
    log_decision(api, &decision, identity, parsed.as_ref().and_then(|p| p.as_ref().err()));

    let principal = match identity {
        Some(identity) => principal_id(identity, config),
        None => ANONYMOUS_PRINCIPAL.to_owned(),
    };
    let (allow, context) = match decision {
        Decision::Allow { headers } => (true, headers.into_iter().map(|h| (certprop::context_key(&h.name), h.value)).collect()),
        Decision::Deny { reason: DenyReason::MissingCertificate } => return Err(AuthorizerError::Unauthorized),
        Decision::Deny { reason } => (false, AuthorizerContext::from([(DENY_REASON_KEY.to_owned(), reason.as_str().to_owned())])),
    };
    match event {
        AuthorizerEvent::Rest(event) => {
            let Some(method_arn) = event.method_arn else {
                tracing::error!(api, "REST authorizer event without methodArn: check the authorizer's type (REQUEST)");
                return Err(AuthorizerError::MissingMethodArn);
            };
            let mut response = ApiGatewayCustomAuthorizerResponse::default();
            response.principal_id = Some(principal);
            response.policy_document = policy(allow, method_arn);
            response.context = context;
            Ok(AuthorizerResponse::Rest(response))
        }
        AuthorizerEvent::Http(_) => {
            let mut response = ApiGatewayV2CustomAuthorizerSimpleResponse::default();
            response.is_authorized = allow;
            response.context = context;
            Ok(AuthorizerResponse::Http(response))
        }
        AuthorizerEvent::Unreadable(_) => Err(AuthorizerError::Unauthorized),
    }
}

/// The `principalId` for an identity (see the crate docs).
pub fn principal_id(identity: &Identity, config: &Config) -> String {
    let subject = match config.preset() {
        Some(Preset::AwsSample) => identity.subject().to_node_text(),
        _ => identity.subject_rfc4514().to_owned(),
    };
    if !subject.is_empty() {
        return subject;
    }
    match identity.spiffe_id() {
        Some(spiffe_id) => spiffe_id.to_owned(),
        None => identity.sha256_hex(),
    }
}

fn policy(allow: bool, resource: String) -> ApiGatewayCustomAuthorizerPolicy {
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".to_owned()];
    statement.effect = if allow { IamPolicyEffect::Allow } else { IamPolicyEffect::Deny };
    statement.resource = vec![resource];
    let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
    policy.version = Some("2012-10-17".to_owned());
    policy.statement = vec![statement];
    policy
}

fn log_decision(api: &'static str, decision: &Decision, identity: Option<&Identity>, error: Option<&certprop::CertError>) {
    let (word, reason) = match decision {
        Decision::Allow { .. } => ("allow", None),
        Decision::Deny { reason } => ("deny", Some(reason.as_str())),
    };
    tracing::info!(
        decision = word,
        reason,
        api,
        subject = identity.map(Identity::subject_rfc4514),
        serial = identity.map(Identity::serial_hex),
        fingerprint = identity.map(Identity::sha256_hex),
        error = error.map(ToString::to_string),
        "authorizer decision"
    );
}

impl AuthorizerEvent {
    /// `"rest"`, `"http"` or `"unreadable"`, as logged.
    pub fn api(&self) -> &'static str {
        match self {
            AuthorizerEvent::Rest(_) => "rest",
            AuthorizerEvent::Http(_) => "http",
            AuthorizerEvent::Unreadable(_) => "unreadable",
        }
    }

    /// The client certificate's PEM, when API Gateway sent a non-empty one.
    pub fn client_cert_pem(&self) -> Option<&str> {
        let pem = match self {
            AuthorizerEvent::Rest(event) => {
                event.request_context.identity.as_ref()?.client_cert.as_ref()?.client_cert_pem.as_deref()
            }
            AuthorizerEvent::Http(event) => {
                event.request_context.authentication.as_ref()?.client_cert.as_ref()?.client_cert_pem.as_deref()
            }
            AuthorizerEvent::Unreadable(_) => None,
        };
        pem.filter(|pem| !pem.trim().is_empty())
    }
}

/// Fields of an event that the caller controls and the authorizer never reads. The typed events
/// insist on valid header values; a request whose header `aws_lambda_events` cannot type must
/// still get a decision, not a 500, so these are dropped when the whole event does not type.
const CALLER_FIELDS: [&str; 7] = [
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "cookies",
    "identitySource",
];

/// For the runtime: an invocation whose payload is not JSON gets `null` instead, which reads as
/// [`AuthorizerEvent::Unreadable`] and is answered `Unauthorized`. (Left alone, lambda_runtime
/// reports a deserialization error, which API Gateway turns into a 500.)
pub fn non_json_as_null(mut invocation: lambda_runtime::LambdaInvocation) -> lambda_runtime::LambdaInvocation {
    // A full parse, as the event's own will be: skipping values would not check their UTF-8.
    if serde_json::from_slice::<serde_json::Value>(&invocation.body).is_err() {
        tracing::warn!(bytes = invocation.body.len(), "the invocation payload is not JSON");
        invocation.body = "null".into();
    }
    invocation
}

impl<'de> Deserialize<'de> for AuthorizerEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut value = serde_json::Value::deserialize(deserializer)?;
        let http = value.get("version").and_then(serde_json::Value::as_str) == Some("2.0");
        let typed = |value: serde_json::Value| -> Result<AuthorizerEvent, serde_json::Error> {
            Ok(if http {
                AuthorizerEvent::Http(Box::new(serde_json::from_value(value)?))
            } else {
                AuthorizerEvent::Rest(Box::new(serde_json::from_value(value)?))
            })
        };
        match typed(value.clone()) {
            Ok(event) => Ok(event),
            Err(first) => {
                if let Some(object) = value.as_object_mut() {
                    for field in CALLER_FIELDS {
                        object.remove(field);
                    }
                }
                Ok(typed(value).unwrap_or_else(|_| {
                    let kind = if http { "HTTP API (payload 2.0)" } else { "REST API REQUEST" };
                    AuthorizerEvent::Unreadable(format!("not an API Gateway {kind} authorizer event: {first}"))
                }))
            }
        }
    }
}
