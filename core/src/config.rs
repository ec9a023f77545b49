//! The config document, the same at every edge: which headers to set, which to strip, and the policy.
//!
//! [`Config::from_json`] checks everything once, so `decide` never meets a config it cannot apply.
//! Errors name the JSON path of the offending value (`policy.allow[1].issuer`).

use base64::Engine as _;
use serde::Deserialize as _;

use crate::dn::{glob_pattern, DnPattern, PatternChar};
use crate::json::{read_bool, read_list, read_string, read_unsigned, read_variant, Json, Object};
use crate::signature::{is_key_id, Signature, SigningKey, DEFAULT_MAX_AGE_SECONDS, DEFAULT_SIGNATURE_HEADER, MIN_SECRET_BYTES};

/// Default and largest `max_header_bytes`.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 8192;
const LARGEST_MAX_HEADER_BYTES: usize = 65536;
const LARGEST_CLOCK_SKEW_SECONDS: u32 = 86_400;

/// Why a config document was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not JSON.
    #[error("config is not valid JSON: {message} (line {line}, column {column})")]
    Syntax {
        /// serde_json's description.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A value has the wrong type or content, or a key is unknown.
    #[error("config {path}: {message}")]
    Invalid {
        /// JSON path of the value (`.` for the document itself).
        path: String,
        /// What was expected.
        message: String,
    },
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { path: path.into(), message: message.into() }
}

/// What a header carries.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Value {
    /// RFC 4514 subject.
    Subject,
    /// The AWS sample's subject: Node's `X509Certificate.subject`, lines joined by commas.
    SubjectNode,
    /// RFC 4514 issuer.
    Issuer,
    /// Serial number, lowercase hex.
    Serial,
    /// `notBefore`, RFC 3339.
    NotBefore,
    /// `notAfter`, RFC 3339.
    NotAfter,
    /// SHA-256 of the DER, lowercase hex.
    Sha256,
    /// The SPIFFE ID.
    SpiffeId,
    /// DNS SANs, comma-joined.
    SanDns,
    /// URI SANs, comma-joined.
    SanUri,
    /// Email SANs, comma-joined.
    SanEmail,
    /// IP SANs, comma-joined.
    SanIp,
    /// The most specific (last) CN of the subject.
    Cn,
    /// Every subject attribute of this type (dotted OID), RFC 4514-escaped, comma-joined.
    Attr(String),
    /// The certificate's DER.
    Cert,
    /// The `certprop inspect` object, compact JSON.
    Json,
    /// Preset `rfc9440`: `:` base64 DER `:` (an RFC 8941 byte sequence).
    Rfc9440Cert,
    /// Preset `xfcc`: Envoy's `x-forwarded-client-cert` element.
    Xfcc,
    /// Preset `alb`: serial as uppercase hex.
    AlbSerial,
    /// Preset `alb`: `NotBefore=…;NotAfter=…`.
    AlbValidity,
    /// Preset `alb`: the PEM, percent-encoded.
    AlbLeaf,
}

impl Value {
    fn parse(text: &str) -> Option<Value> {
        Some(match text {
            "subject" => Value::Subject,
            "subject_node" => Value::SubjectNode,
            "issuer" => Value::Issuer,
            "serial" => Value::Serial,
            "not_before" => Value::NotBefore,
            "not_after" => Value::NotAfter,
            "sha256" => Value::Sha256,
            "spiffe_id" => Value::SpiffeId,
            "san_dns" => Value::SanDns,
            "san_uri" => Value::SanUri,
            "san_email" => Value::SanEmail,
            "san_ip" => Value::SanIp,
            "cn" => Value::Cn,
            "cert" => Value::Cert,
            "json" => Value::Json,
            _ => Value::Attr(crate::dn::attribute_oid(text.strip_prefix("attr:")?)?),
        })
    }

    /// The name used in config documents (presets' own values have descriptive names).
    pub fn name(&self) -> String {
        match self {
            Value::Subject => "subject".into(),
            Value::SubjectNode => "subject_node".into(),
            Value::Issuer => "issuer".into(),
            Value::Serial => "serial".into(),
            Value::NotBefore => "not_before".into(),
            Value::NotAfter => "not_after".into(),
            Value::Sha256 => "sha256".into(),
            Value::SpiffeId => "spiffe_id".into(),
            Value::SanDns => "san_dns".into(),
            Value::SanUri => "san_uri".into(),
            Value::SanEmail => "san_email".into(),
            Value::SanIp => "san_ip".into(),
            Value::Cn => "cn".into(),
            Value::Attr(oid) => format!("attr:{oid}"),
            Value::Cert => "cert".into(),
            Value::Json => "json".into(),
            Value::Rfc9440Cert => "rfc9440 client-cert".into(),
            Value::Xfcc => "xfcc element".into(),
            Value::AlbSerial => "alb serial".into(),
            Value::AlbValidity => "alb validity".into(),
            Value::AlbLeaf => "alb leaf".into(),
        }
    }
}

const VALUE_NAMES: &str = "subject, subject_node, issuer, serial, not_before, not_after, sha256, spiffe_id, \
     san_dns, san_uri, san_email, san_ip, cn, attr:<keyword or OID>, cert, json";

/// How a value is written into the header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encoding {
    /// Standard base64 with padding.
    #[default]
    Base64,
    /// URL-safe base64 without padding.
    Base64url,
    /// Percent-encoding of every byte outside `A-Z a-z 0-9 - . _ ~`.
    Percent,
    /// The value itself; a value that is not a safe header value denies the request.
    Raw,
}

impl Encoding {
    const ALL: [Encoding; 4] = [Encoding::Base64, Encoding::Base64url, Encoding::Percent, Encoding::Raw];

    /// The name used in config documents.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Base64 => "base64",
            Encoding::Base64url => "base64url",
            Encoding::Percent => "percent",
            Encoding::Raw => "raw",
        }
    }
}

/// A ready-made header set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Exactly the AWS sample's `x-client-cert-sub`.
    AwsSample,
    /// RFC 9440 `client-cert`.
    Rfc9440,
    /// Envoy's `x-forwarded-client-cert`.
    Xfcc,
    /// The Application Load Balancer's `x-amzn-mtls-clientcert-*` set.
    Alb,
}

impl Preset {
    const ALL: [Preset; 4] = [Preset::AwsSample, Preset::Rfc9440, Preset::Xfcc, Preset::Alb];

    /// The name used in config documents.
    pub fn name(self) -> &'static str {
        match self {
            Preset::AwsSample => "aws-sample",
            Preset::Rfc9440 => "rfc9440",
            Preset::Xfcc => "xfcc",
            Preset::Alb => "alb",
        }
    }

    fn headers(self) -> Vec<HeaderSpec> {
        let raw = |name: &str, value| HeaderSpec { name: name.to_owned(), value, encoding: Encoding::Raw };
        match self {
            Preset::AwsSample => vec![raw("x-client-cert-sub", Value::SubjectNode)],
            Preset::Rfc9440 => vec![raw("client-cert", Value::Rfc9440Cert)],
            Preset::Xfcc => vec![raw("x-forwarded-client-cert", Value::Xfcc)],
            Preset::Alb => vec![
                raw("x-amzn-mtls-clientcert-serial-number", Value::AlbSerial),
                raw("x-amzn-mtls-clientcert-issuer", Value::Issuer),
                raw("x-amzn-mtls-clientcert-subject", Value::Subject),
                raw("x-amzn-mtls-clientcert-validity", Value::AlbValidity),
                raw("x-amzn-mtls-clientcert-leaf", Value::AlbLeaf),
            ],
        }
    }
}

/// One header to set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderSpec {
    /// Lowercase header name.
    pub name: String,
    /// What it carries.
    pub value: Value,
    /// How the value is written.
    pub encoding: Encoding,
}

impl HeaderSpec {
    /// The key of this header's value in a Lambda authorizer's `context`: the name without a
    /// leading `x-`, in lowerCamelCase (`x-client-cert-sub` → `clientCertSub`).
    pub fn context_key(&self) -> String {
        context_key(&self.name)
    }
}

/// See [`HeaderSpec::context_key`].
pub fn context_key(header_name: &str) -> String {
    let name = header_name.strip_prefix("x-").unwrap_or(header_name);
    let mut key = String::with_capacity(name.len());
    for (i, word) in name.split('-').filter(|w| !w.is_empty()).enumerate() {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            if i == 0 {
                key.push(first.to_ascii_lowercase());
            } else {
                key.push(first.to_ascii_uppercase());
            }
            key.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    key
}

/// What an edge does for a request without a client certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnMissingCert {
    /// Deny with `missing_certificate` (the default).
    #[default]
    Deny,
    /// Let it through with no identity headers (spoofed ones are still stripped).
    Allow,
}

impl OnMissingCert {
    const ALL: [OnMissingCert; 2] = [OnMissingCert::Deny, OnMissingCert::Allow];

    /// The name used in config documents.
    pub fn name(self) -> &'static str {
        match self {
            OnMissingCert::Deny => "deny",
            OnMissingCert::Allow => "allow",
        }
    }
}

/// A policy rule: every field given must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    pub(crate) issuer: Option<DnPattern>,
    pub(crate) subject: Option<DnPattern>,
    pub(crate) spiffe_id: Option<Vec<PatternChar>>,
    pub(crate) spiffe_trust_domain: Option<String>,
    pub(crate) dns_san: Option<Vec<PatternChar>>,
    pub(crate) uri_san: Option<Vec<PatternChar>>,
    pub(crate) email_san: Option<Vec<PatternChar>>,
    pub(crate) sha256: Option<String>,
    pub(crate) serial: Option<String>,
}

/// Validity, EKU and allow/deny rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Deny certificates outside their validity period.
    pub check_validity: bool,
    /// Seconds of tolerance on both ends of the validity period.
    pub clock_skew_seconds: u32,
    /// Deny certificates without the `clientAuth` extended key usage.
    pub require_client_auth_eku: bool,
    pub(crate) allow: Vec<Rule>,
    pub(crate) deny: Vec<Rule>,
}

impl Policy {
    /// Number of allow rules (none = allow every certificate).
    pub fn allow_rules(&self) -> usize {
        self.allow.len()
    }

    /// Number of deny rules.
    pub fn deny_rules(&self) -> usize {
        self.deny.len()
    }
}

/// A checked config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    headers: Vec<HeaderSpec>,
    strip: Vec<String>,
    preset: Option<Preset>,
    on_missing_cert: OnMissingCert,
    max_header_bytes: usize,
    policy: Policy,
    signature: Option<Signature>,
}

impl Default for Config {
    /// The config of `{}`.
    fn default() -> Self {
        match Config::from_json("{}") {
            Ok(config) => config,
            Err(_) => unreachable!("the empty config is valid"),
        }
    }
}

/// The document as written, before [`Config::check`]: what serde's derive read before, with
/// the defaults it filled in. `read` checks types and keys; `check` checks the values.
struct RawConfig {
    headers: Option<Vec<RawHeader>>,
    preset: Option<Preset>,
    strip: Vec<String>,
    on_missing_cert: OnMissingCert,
    max_header_bytes: Option<usize>,
    policy: RawPolicy,
    signature: Option<RawSignature>,
}

struct RawSignature {
    header: Option<String>,
    keys: Vec<RawKey>,
    max_age_seconds: Option<u32>,
}

struct RawKey {
    id: String,
    secret: String,
}

struct RawHeader {
    name: String,
    value: String,
    encoding: Encoding,
}

struct RawPolicy {
    check_validity: bool,
    clock_skew_seconds: u32,
    require_client_auth_eku: bool,
    allow: Vec<RawRule>,
    deny: Vec<RawRule>,
}

impl Default for RawPolicy {
    fn default() -> Self {
        RawPolicy {
            check_validity: true,
            clock_skew_seconds: 0,
            require_client_auth_eku: false,
            allow: Vec::new(),
            deny: Vec::new(),
        }
    }
}

struct RawRule {
    issuer: Option<String>,
    subject: Option<String>,
    spiffe_id: Option<String>,
    spiffe_trust_domain: Option<String>,
    dns_san: Option<String>,
    uri_san: Option<String>,
    email_san: Option<String>,
    sha256: Option<String>,
    serial: Option<String>,
}

impl RawConfig {
    fn read(json: &Json) -> Result<RawConfig, ConfigError> {
        const FIELDS: [&str; 7] =
            ["headers", "preset", "strip", "on_missing_cert", "max_header_bytes", "policy", "signature"];
        let object = Object::new(json, ".", "a config object", &FIELDS)?;
        Ok(RawConfig {
            headers: object.read_optional("headers", |json, path| read_list(json, path, RawHeader::read))?,
            preset: object.read_optional("preset", |json, path| read_variant(json, path, &Preset::ALL, Preset::name))?,
            strip: object.read("strip", |json, path| read_list(json, path, read_string))?.unwrap_or_default(),
            on_missing_cert: object
                .read("on_missing_cert", |json, path| read_variant(json, path, &OnMissingCert::ALL, OnMissingCert::name))?
                .unwrap_or_default(),
            max_header_bytes: object.read_optional("max_header_bytes", |json, path| read_unsigned(json, path, "usize"))?,
            policy: object.read("policy", RawPolicy::read)?.unwrap_or_default(),
            signature: object.read_optional("signature", RawSignature::read)?,
        })
    }
}

impl RawSignature {
    fn read(json: &Json, path: &str) -> Result<RawSignature, ConfigError> {
        let object = Object::new(json, path, "a signature object", &["header", "keys", "max_age_seconds"])?;
        Ok(RawSignature {
            header: object.read_optional("header", read_string)?,
            keys: object.read_required("keys", |json, path| read_list(json, path, RawKey::read))?,
            max_age_seconds: object.read_optional("max_age_seconds", |json, path| read_unsigned(json, path, "u32"))?,
        })
    }
}

impl RawKey {
    fn read(json: &Json, path: &str) -> Result<RawKey, ConfigError> {
        let object = Object::new(json, path, "a key object", &["id", "secret"])?;
        Ok(RawKey { id: object.read_required("id", read_string)?, secret: object.read_required("secret", read_string)? })
    }
}

impl RawHeader {
    fn read(json: &Json, path: &str) -> Result<RawHeader, ConfigError> {
        let object = Object::new(json, path, "a header object", &["name", "value", "encoding"])?;
        Ok(RawHeader {
            name: object.read_required("name", read_string)?,
            value: object.read_required("value", read_string)?,
            encoding: object
                .read("encoding", |json, path| read_variant(json, path, &Encoding::ALL, Encoding::name))?
                .unwrap_or_default(),
        })
    }
}

impl RawPolicy {
    fn read(json: &Json, path: &str) -> Result<RawPolicy, ConfigError> {
        const FIELDS: [&str; 5] = ["check_validity", "clock_skew_seconds", "require_client_auth_eku", "allow", "deny"];
        let object = Object::new(json, path, "a policy object", &FIELDS)?;
        let defaults = RawPolicy::default();
        let rules = |field| object.read(field, |json, path| read_list(json, path, RawRule::read));
        Ok(RawPolicy {
            check_validity: object.read("check_validity", read_bool)?.unwrap_or(defaults.check_validity),
            clock_skew_seconds: object
                .read("clock_skew_seconds", |json, path| read_unsigned(json, path, "u32"))?
                .unwrap_or(defaults.clock_skew_seconds),
            require_client_auth_eku: object.read("require_client_auth_eku", read_bool)?.unwrap_or(defaults.require_client_auth_eku),
            allow: rules("allow")?.unwrap_or_default(),
            deny: rules("deny")?.unwrap_or_default(),
        })
    }
}

impl RawRule {
    fn read(json: &Json, path: &str) -> Result<RawRule, ConfigError> {
        const FIELDS: [&str; 9] =
            ["issuer", "subject", "spiffe_id", "spiffe_trust_domain", "dns_san", "uri_san", "email_san", "sha256", "serial"];
        let object = Object::new(json, path, "a rule object", &FIELDS)?;
        let field = |name| object.read_optional(name, read_string);
        Ok(RawRule {
            issuer: field("issuer")?,
            subject: field("subject")?,
            spiffe_id: field("spiffe_id")?,
            spiffe_trust_domain: field("spiffe_trust_domain")?,
            dns_san: field("dns_san")?,
            uri_san: field("uri_san")?,
            email_san: field("email_san")?,
            sha256: field("sha256")?,
            serial: field("serial")?,
        })
    }
}

impl Config {
    /// Parses and checks a config document. Unknown keys are errors.
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        let syntax = |error: serde_json::Error| ConfigError::Syntax {
            message: syntax_message(&error),
            line: error.line(),
            column: error.column(),
        };
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let json = Json::deserialize(&mut deserializer).map_err(syntax)?;
        deserializer.end().map_err(syntax)?;
        Config::check(RawConfig::read(&json)?)
    }

    fn check(raw: RawConfig) -> Result<Config, ConfigError> {
        let mut headers = Vec::new();
        for (i, header) in raw.headers.iter().flatten().enumerate() {
            let path = format!("headers[{i}]");
            let name = output_header_name(&header.name).ok_or_else(|| {
                invalid(format!("{path}.name"), "expected a header name of letters, digits and inner '-'")
            })?;
            let value = Value::parse(&header.value)
                .ok_or_else(|| invalid(format!("{path}.value"), format!("expected one of {VALUE_NAMES}")))?;
            headers.push(HeaderSpec { name, value, encoding: header.encoding });
        }
        if let Some(preset) = raw.preset {
            headers.extend(preset.headers());
        }
        if raw.headers.is_none() && raw.preset.is_none() {
            headers.push(HeaderSpec { name: "x-client-cert-sub".into(), value: Value::Subject, encoding: Encoding::Base64 });
        }
        for (i, header) in headers.iter().enumerate() {
            let earlier = &headers[..i];
            let path = || if i < raw.headers.as_ref().map_or(0, Vec::len) { format!("headers[{i}].name") } else { "preset".into() };
            if earlier.iter().any(|h| h.name == header.name) {
                return Err(invalid(path(), format!("header {} is set twice", header.name)));
            }
            if let Some(twin) = earlier.iter().find(|h| h.context_key() == header.context_key()) {
                return Err(invalid(
                    path(),
                    format!("headers {} and {} share the authorizer context key {}", twin.name, header.name, header.context_key()),
                ));
            }
        }

        let signature = raw.signature.as_ref().map(|raw| check_signature(raw, &headers)).transpose()?;

        let mut strip: Vec<String> = headers.iter().map(|h| h.name.clone()).collect();
        strip.extend(signature.as_ref().map(|s| s.header.clone()));
        for (i, name) in raw.strip.iter().enumerate() {
            let name = header_name(name).ok_or_else(|| invalid(format!("strip[{i}]"), "expected an HTTP header name"))?;
            if !strip.contains(&name) {
                strip.push(name);
            }
        }

        let max_header_bytes = raw.max_header_bytes.unwrap_or(DEFAULT_MAX_HEADER_BYTES);
        if !(1..=LARGEST_MAX_HEADER_BYTES).contains(&max_header_bytes) {
            return Err(invalid("max_header_bytes", format!("expected 1 to {LARGEST_MAX_HEADER_BYTES}")));
        }
        if raw.policy.clock_skew_seconds > LARGEST_CLOCK_SKEW_SECONDS {
            return Err(invalid("policy.clock_skew_seconds", format!("expected 0 to {LARGEST_CLOCK_SKEW_SECONDS}")));
        }
        let rules = |list: &[RawRule], name: &str| -> Result<Vec<Rule>, ConfigError> {
            list.iter().enumerate().map(|(i, rule)| check_rule(rule, &format!("policy.{name}[{i}]"))).collect()
        };
        let policy = Policy {
            check_validity: raw.policy.check_validity,
            clock_skew_seconds: raw.policy.clock_skew_seconds,
            require_client_auth_eku: raw.policy.require_client_auth_eku,
            allow: rules(&raw.policy.allow, "allow")?,
            deny: rules(&raw.policy.deny, "deny")?,
        };
        Ok(Config {
            headers,
            strip,
            preset: raw.preset,
            on_missing_cert: raw.on_missing_cert,
            max_header_bytes,
            policy,
            signature,
        })
    }

    /// The headers to set on an allowed request, in order.
    pub fn headers(&self) -> &[HeaderSpec] {
        &self.headers
    }

    /// Every configured output header plus the `strip` entries, lowercase, each once. An edge
    /// removes all of them from every incoming request, allowed or denied.
    pub fn headers_to_strip(&self) -> &[String] {
        &self.strip
    }

    /// The preset, if any.
    pub fn preset(&self) -> Option<Preset> {
        self.preset
    }

    /// What to do without a client certificate.
    pub fn on_missing_cert(&self) -> OnMissingCert {
        self.on_missing_cert
    }

    /// The largest header value, in bytes.
    pub fn max_header_bytes(&self) -> usize {
        self.max_header_bytes
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The `signature` block, if any.
    pub fn signature(&self) -> Option<&Signature> {
        self.signature.as_ref()
    }
}

/// serde_json's message without its " at line L column C" suffix (the error carries both).
fn syntax_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// A name for a header certprop sets: letters, digits and inner `-`, so that it is a valid
/// header at every edge and gives an API Gateway context key; lowercased.
fn output_header_name(name: &str) -> Option<String> {
    let valid = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && name.bytes().any(|b| b.is_ascii_alphabetic())
        && !name.starts_with('-')
        && !name.ends_with('-');
    valid.then(|| name.to_ascii_lowercase())
}

/// A header name per RFC 9110 `token`, lowercased; `None` when it is not one.
fn header_name(name: &str) -> Option<String> {
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    (!name.is_empty() && name.bytes().all(is_tchar)).then(|| name.to_ascii_lowercase())
}

fn check_signature(raw: &RawSignature, headers: &[HeaderSpec]) -> Result<Signature, ConfigError> {
    let header = match &raw.header {
        Some(name) => output_header_name(name)
            .ok_or_else(|| invalid("signature.header", "expected a header name of letters, digits and inner '-'"))?,
        None => DEFAULT_SIGNATURE_HEADER.to_owned(),
    };
    if let Some(twin) = headers.iter().find(|h| h.name == header || h.context_key() == context_key(&header)) {
        return Err(invalid("signature.header", format!("{header} clashes with the identity header {}", twin.name)));
    }
    if raw.keys.is_empty() {
        return Err(invalid("signature.keys", "expected at least one key (the first one signs)"));
    }
    let mut keys: Vec<SigningKey> = Vec::with_capacity(raw.keys.len());
    for (i, key) in raw.keys.iter().enumerate() {
        if !is_key_id(&key.id) {
            return Err(invalid(format!("signature.keys[{i}].id"), "expected 1 to 64 letters, digits, '.', '_' or '-'"));
        }
        if keys.iter().any(|k| k.id() == key.id) {
            return Err(invalid(format!("signature.keys[{i}].id"), format!("key id {} is used twice", key.id)));
        }
        let too_short = format!("expected base64 of at least {MIN_SECRET_BYTES} random bytes");
        let secret = base64::engine::general_purpose::STANDARD
            .decode(key.secret.trim())
            .map_err(|_| invalid(format!("signature.keys[{i}].secret"), too_short.clone()))?;
        let key = SigningKey::new(key.id.clone(), secret)
            .ok_or_else(|| invalid(format!("signature.keys[{i}].secret"), too_short))?;
        keys.push(key);
    }
    let max_age_seconds = raw.max_age_seconds.unwrap_or(DEFAULT_MAX_AGE_SECONDS);
    if !(1..=LARGEST_CLOCK_SKEW_SECONDS).contains(&max_age_seconds) {
        return Err(invalid("signature.max_age_seconds", format!("expected 1 to {LARGEST_CLOCK_SKEW_SECONDS}")));
    }
    Ok(Signature { header, keys, max_age_seconds })
}

fn check_rule(raw: &RawRule, path: &str) -> Result<Rule, ConfigError> {
    let dn = |field: &str, text: &Option<String>| -> Result<Option<DnPattern>, ConfigError> {
        text.as_deref()
            .map(|t| DnPattern::parse(t).map_err(|e| invalid(format!("{path}.{field}"), format!("expected an RFC 4514 name: {e}"))))
            .transpose()
    };
    let glob = |text: &Option<String>| text.as_deref().map(glob_pattern);
    let hex = |field: &str, text: &Option<String>, exact_len: Option<usize>| -> Result<Option<String>, ConfigError> {
        let Some(text) = text else { return Ok(None) };
        let digits: String = text.chars().filter(|&c| c != ':').collect::<String>().to_ascii_lowercase();
        let ok = !digits.is_empty()
            && digits.len() % 2 == 0
            && digits.bytes().all(|b| b.is_ascii_hexdigit())
            && exact_len.is_none_or(|n| digits.len() == n);
        if !ok {
            let what = if exact_len.is_some() { "64 hex digits" } else { "an even number of hex digits" };
            return Err(invalid(format!("{path}.{field}"), format!("expected {what} (colons allowed)")));
        }
        Ok(Some(digits))
    };
    if let Some(domain) = &raw.spiffe_trust_domain {
        let valid = !domain.is_empty()
            && domain.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
        if !valid {
            return Err(invalid(
                format!("{path}.spiffe_trust_domain"),
                "expected a trust domain name (lowercase letters, digits, '-', '.', '_'), without spiffe://",
            ));
        }
    }
    let rule = Rule {
        issuer: dn("issuer", &raw.issuer)?,
        subject: dn("subject", &raw.subject)?,
        spiffe_id: glob(&raw.spiffe_id),
        spiffe_trust_domain: raw.spiffe_trust_domain.clone(),
        dns_san: glob(&raw.dns_san),
        uri_san: glob(&raw.uri_san),
        email_san: glob(&raw.email_san),
        sha256: hex("sha256", &raw.sha256, Some(64))?,
        serial: hex("serial", &raw.serial, None)?.map(|digits| {
            // The identity's serial has no sign-padding `00`; neither may the rule's.
            let padded = digits.len() > 2 && digits.starts_with("00") && digits.as_bytes()[2] >= b'8';
            if padded { digits[2..].to_owned() } else { digits }
        }),
    };
    if rule == Rule::default() {
        return Err(invalid(path, "a rule needs at least one field"));
    }
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(json: &str) -> String {
        Config::from_json(json).unwrap_err().to_string()
    }

    #[test]
    fn empty_config_sets_the_base64_subject_and_denies_without_a_certificate() {
        let config = Config::from_json("{}").unwrap();
        assert_eq!(
            config.headers(),
            [HeaderSpec { name: "x-client-cert-sub".into(), value: Value::Subject, encoding: Encoding::Base64 }]
        );
        assert_eq!(config.headers_to_strip(), ["x-client-cert-sub"]);
        assert_eq!(config.on_missing_cert(), OnMissingCert::Deny);
        assert_eq!(config.max_header_bytes(), 8192);
        assert!(config.policy().check_validity);
        assert_eq!(config, Config::default());
    }

    #[test]
    fn reads_every_key() {
        let config = Config::from_json(
            r#"{"headers":[{"name":"X-Client-Cert-Sub","value":"subject"},{"name":"x-cn","value":"attr:CN","encoding":"raw"}],
                "strip":["x-forwarded-client-cert","X-CLIENT-CERT-SUB"],"on_missing_cert":"allow","max_header_bytes":100,
                "policy":{"check_validity":false,"clock_skew_seconds":30,"require_client_auth_eku":true,
                          "allow":[{"issuer":"CN=Example CA","subject":"CN=client-*","spiffe_trust_domain":"example.org",
                                    "dns_san":"*.example.org","sha256":"AB:CD:ef0123456789012345678901234567890123456789012345678901234567"}],
                          "deny":[{"serial":"12c5"}]}}"#,
        )
        .unwrap();
        assert_eq!(config.headers()[0].name, "x-client-cert-sub");
        assert_eq!(config.headers()[1].value, Value::Attr("2.5.4.3".into()));
        assert_eq!(config.headers_to_strip(), ["x-client-cert-sub", "x-cn", "x-forwarded-client-cert"]);
        assert_eq!(config.on_missing_cert(), OnMissingCert::Allow);
        assert_eq!(config.max_header_bytes(), 100);
        let policy = config.policy();
        assert!(!policy.check_validity && policy.require_client_auth_eku);
        assert_eq!(policy.clock_skew_seconds, 30);
        assert_eq!((policy.allow_rules(), policy.deny_rules()), (1, 1));
        assert_eq!(policy.allow[0].sha256.as_deref(), Some("abcdef0123456789012345678901234567890123456789012345678901234567"));
    }

    #[test]
    fn presets_replace_the_default_header_and_combine_with_explicit_ones() {
        let config = Config::from_json(r#"{"preset":"aws-sample"}"#).unwrap();
        assert_eq!(config.headers().len(), 1);
        assert_eq!(config.headers()[0].value, Value::SubjectNode);
        assert_eq!(config.headers()[0].encoding, Encoding::Raw);
        let config = Config::from_json(r#"{"preset":"alb","headers":[{"name":"x-sha","value":"sha256"}]}"#).unwrap();
        assert_eq!(config.headers().len(), 6);
        assert_eq!(config.headers()[0].name, "x-sha");
        let config = Config::from_json(r#"{"headers":[]}"#).unwrap();
        assert!(config.headers().is_empty());
    }

    #[test]
    fn errors_name_the_json_path() {
        assert_eq!(
            error_of(r#"{"policy":{"allow":[{"subject":"CN=a"},{"issuer":"CN"}]}}"#),
            "config policy.allow[1].issuer: expected an RFC 4514 name: expected '=' at byte 2"
        );
        assert!(error_of(r#"{"policy":{"allow":[{"subjekt":"CN=a"}]}}"#).starts_with("config policy.allow[0]"), "{}", error_of(r#"{"policy":{"allow":[{"subjekt":"CN=a"}]}}"#));
        assert!(error_of(r#"{"policy":{"allow":[{"subjekt":"CN=a"}]}}"#).contains("unknown field `subjekt`"));
        assert!(error_of(r#"{"headers":[{"name":"x-a","value":"subjects"}]}"#).starts_with("config headers[0].value: expected one of subject,"));
        assert_eq!(error_of(r#"{"headers":[{"name":"x a","value":"subject"}]}"#).split(':').next().unwrap(), "config headers[0].name");
        assert!(error_of(r#"{"headers":[{"name":"x-a","value":"subject","encoding":"hex"}]}"#).starts_with("config headers[0].encoding: unknown variant `hex`"));
        assert!(error_of(r#"{"preset":"nginx"}"#).starts_with("config preset: unknown variant `nginx`"));
        assert_eq!(error_of(r#"{"max_header_bytes":0}"#), "config max_header_bytes: expected 1 to 65536");
        assert!(error_of(r#"{"max_header_bytes":-1}"#).starts_with("config max_header_bytes: invalid value"));
        assert!(error_of(r#"{"strip":["ok","bad header"]}"#).starts_with("config strip[1]:"));
        assert!(error_of(r#"{"on_missing_cert":"maybe"}"#).starts_with("config on_missing_cert: unknown variant"));
        assert!(error_of(r#"{"extra":1}"#).contains("unknown field `extra`"));
        assert_eq!(error_of(r#""text""#), "config .: invalid type: string \"text\", expected a config object");
        assert_eq!(error_of(r#"{"policy":{"deny":[{}]}}"#), "config policy.deny[0]: a rule needs at least one field");
        assert_eq!(error_of(r#"{"preset":"alb","preset":"xfcc"}"#), "config .: duplicate field `preset`");
        assert_eq!(error_of(r#"{"policy":{"allow":[],"allow":[]}}"#), "config policy: duplicate field `allow`");
        assert_eq!(error_of(r#"{"headers":[{"value":"cn"}]}"#), "config headers[0]: missing field `name`");
        assert_eq!(error_of(r#"{"strip":null}"#), "config strip: invalid type: null, expected a sequence");
        assert!(Config::from_json(r#"{"preset":null,"headers":null,"signature":null}"#).is_ok(), "null is an absent option");
        assert!(error_of(r#"{"policy":{"deny":[{"sha256":"abc"}]}}"#).starts_with("config policy.deny[0].sha256: expected 64 hex digits"));
        assert!(error_of(r#"{"policy":{"deny":[{"serial":"xyz"}]}}"#).starts_with("config policy.deny[0].serial:"));
        assert!(error_of(r#"{"policy":{"allow":[{"spiffe_trust_domain":"spiffe://x"}]}}"#).starts_with("config policy.allow[0].spiffe_trust_domain:"));
        assert!(error_of(r#"{"policy":{"clock_skew_seconds":99999999}}"#).starts_with("config policy.clock_skew_seconds:"));
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        assert_eq!(
            Config::from_json("{\n  \"headers\": [,]\n}").unwrap_err(),
            ConfigError::Syntax { message: "expected value".into(), line: 2, column: 15 }
        );
        assert!(matches!(Config::from_json("{} {}"), Err(ConfigError::Syntax { .. })));
        assert!(matches!(Config::from_json(""), Err(ConfigError::Syntax { .. })));
    }

    #[test]
    fn duplicate_headers_and_context_keys_are_errors() {
        assert_eq!(
            error_of(r#"{"headers":[{"name":"x-a","value":"subject"},{"name":"X-A","value":"issuer"}]}"#),
            "config headers[1].name: header x-a is set twice"
        );
        assert_eq!(
            error_of(r#"{"headers":[{"name":"x-client-cert-sub","value":"subject"}],"preset":"aws-sample"}"#),
            "config preset: header x-client-cert-sub is set twice"
        );
        assert_eq!(
            error_of(r#"{"headers":[{"name":"x-client-cert","value":"subject"},{"name":"client-cert","value":"issuer"}]}"#),
            "config headers[1].name: headers x-client-cert and client-cert share the authorizer context key clientCert"
        );
    }

    #[test]
    fn context_keys_are_lower_camel_case_without_x() {
        assert_eq!(context_key("x-client-cert-sub"), "clientCertSub");
        assert_eq!(context_key("client-cert"), "clientCert");
        assert_eq!(context_key("x-amzn-mtls-clientcert-serial-number"), "amznMtlsClientcertSerialNumber");
        assert_eq!(context_key("x-forwarded-client-cert"), "forwardedClientCert");
        assert_eq!(context_key("identity"), "identity");
    }
}
