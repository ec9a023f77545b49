//! The decision for one request: allow with header values, or deny with a stable reason.

use std::borrow::Cow;
use std::time::SystemTime;

use base64::Engine as _;

use crate::config::{Config, Encoding, HeaderSpec, OnMissingCert, Value};
use crate::dn::{escape_value, AttributeValue};
use crate::identity::{hex, Identity};
use crate::signature::unix_seconds;

/// Why a request was denied. [`DenyReason::as_str`] is stable: logs, metrics, 403 bodies and
/// the Lambda's decision log use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DenyReason {
    /// No client certificate and `on_missing_cert` is `deny`.
    MissingCertificate,
    /// The certificate could not be parsed.
    MalformedCertificate,
    /// Past `notAfter` (plus skew).
    Expired,
    /// Before `notBefore` (minus skew).
    NotYetValid,
    /// `require_client_auth_eku` and no `clientAuth` extended key usage.
    MissingClientAuthEku,
    /// A deny rule matched, or allow rules exist and none matched.
    PolicyDenied,
    /// A header value is longer than `max_header_bytes`.
    HeaderTooLarge,
    /// A `raw` header value is not a safe header value (control bytes, edge spaces, not UTF-8).
    UnsafeHeaderValue,
}

impl DenyReason {
    /// Every reason, for metrics that are declared up front.
    pub const ALL: [DenyReason; 8] = [
        DenyReason::MissingCertificate,
        DenyReason::MalformedCertificate,
        DenyReason::Expired,
        DenyReason::NotYetValid,
        DenyReason::MissingClientAuthEku,
        DenyReason::PolicyDenied,
        DenyReason::HeaderTooLarge,
        DenyReason::UnsafeHeaderValue,
    ];

    /// The stable snake_case word.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::MissingCertificate => "missing_certificate",
            DenyReason::MalformedCertificate => "malformed_certificate",
            DenyReason::Expired => "expired",
            DenyReason::NotYetValid => "not_yet_valid",
            DenyReason::MissingClientAuthEku => "missing_client_auth_eku",
            DenyReason::PolicyDenied => "policy_denied",
            DenyReason::HeaderTooLarge => "header_too_large",
            DenyReason::UnsafeHeaderValue => "unsafe_header_value",
        }
    }
}

impl std::fmt::Display for DenyReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header to set on the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Lowercase name.
    pub name: String,
    /// Value: never empty, never over the limit, no control bytes, no leading or trailing space.
    pub value: String,
}

/// What an edge does with the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Strip [`Config::headers_to_strip`], set these headers, pass the request on.
    Allow {
        /// In config order; a header whose value is absent or empty (no SPIFFE ID, no DNS SAN, empty
        /// subject) is not set. With a `signature` block, the signature header comes last.
        headers: Vec<Header>,
    },
    /// Refuse the request.
    Deny {
        /// Why.
        reason: DenyReason,
    },
}

/// Decides for a parsed certificate at time `now`: [`Verdict::new`] then [`Verdict::decide`].
pub fn decide(identity: &Identity, config: &Config, now: SystemTime) -> Decision {
    Verdict::new(identity, config).decide(config, now)
}

/// All that [`decide`] concludes from an identity and a config before it reads the clock: the
/// policy's answer and the rendered headers, with the validity period left to check. An edge that
/// caches identities caches this instead, so a request with a known certificate costs a time
/// comparison and a copy of the headers (plus the signature, which holds the time).
///
/// ```text
/// Verdict::new(identity, config) ──► Verdict ──► .decide(config, now) ──► Decision
///     policy rules, EKU, headers        (cached)     validity, signature
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// First and last valid second, clock skew included; `None` when the config does not check validity.
    valid: Option<(i64, i64)>,
    /// What follows when the certificate is valid at the time of the request.
    outcome: Result<Vec<Header>, DenyReason>,
}

impl Verdict {
    /// The time-independent part of the decision for `identity` under `config`.
    pub fn new(identity: &Identity, config: &Config) -> Verdict {
        let policy = config.policy();
        Verdict {
            valid: policy.validity(identity),
            outcome: policy.check_rules(identity).and_then(|()| render_headers(identity, config)),
        }
    }

    /// The decision at `now`. `config` must be the config the verdict was made with.
    pub fn decide(&self, config: &Config, now: SystemTime) -> Decision {
        let now = unix_seconds(now);
        if let Err(reason) = crate::policy::valid_at(self.valid, now) {
            return Decision::Deny { reason };
        }
        match &self.outcome {
            Ok(headers) => {
                let mut headers = headers.clone();
                if let Some(signature) = config.signature() {
                    headers.extend(crate::signature::sign(signature, config, &headers, now));
                }
                Decision::Allow { headers }
            }
            Err(reason) => Decision::Deny { reason: *reason },
        }
    }
}

/// Decides for a request that carries no client certificate.
pub fn decide_without_certificate(config: &Config) -> Decision {
    match config.on_missing_cert() {
        OnMissingCert::Deny => Decision::Deny { reason: DenyReason::MissingCertificate },
        OnMissingCert::Allow => Decision::Allow { headers: Vec::new() },
    }
}

fn render_headers(identity: &Identity, config: &Config) -> Result<Vec<Header>, DenyReason> {
    let mut headers = Vec::with_capacity(config.headers().len());
    for spec in config.headers() {
        if let Some(value) = render_header(spec, identity, config.max_header_bytes())? {
            headers.push(Header { name: spec.name.clone(), value });
        }
    }
    Ok(headers)
}

/// The value of one header, `None` when absent or empty.
pub fn render_header(spec: &HeaderSpec, identity: &Identity, max_bytes: usize) -> Result<Option<String>, DenyReason> {
    let Some(bytes) = value_bytes(&spec.value, identity) else { return Ok(None) };
    if bytes.is_empty() {
        return Ok(None);
    }
    // Base64 text is always a safe header value, and its length is known before encoding: a
    // value too large for the limit is refused without being encoded.
    let base64_len = match spec.encoding {
        Encoding::Base64 => base64::encoded_len(bytes.len(), true),
        Encoding::Base64url => base64::encoded_len(bytes.len(), false),
        Encoding::Percent | Encoding::Raw => None,
    };
    if base64_len.is_some_and(|len| len > max_bytes) {
        return Err(DenyReason::HeaderTooLarge);
    }
    let value = match spec.encoding {
        Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(&bytes),
        Encoding::Base64url => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes),
        Encoding::Percent => percent_encode(&bytes),
        Encoding::Raw => match bytes {
            Cow::Borrowed(b) => std::str::from_utf8(b).map_err(|_| DenyReason::UnsafeHeaderValue)?.to_owned(),
            Cow::Owned(b) => String::from_utf8(b).map_err(|_| DenyReason::UnsafeHeaderValue)?,
        },
    };
    if !is_safe_header_value(&value) {
        return Err(DenyReason::UnsafeHeaderValue);
    }
    if value.len() > max_bytes {
        return Err(DenyReason::HeaderTooLarge);
    }
    Ok(Some(value))
}

/// True for a header value that every edge passes on unchanged: no control bytes (CR, LF, NUL,
/// TAB, DEL, …) and no leading or trailing space. Bytes at or above 0x80 (UTF-8) are allowed.
pub fn is_safe_header_value(value: &str) -> bool {
    // A fold rather than `any`: without the early exit the compiler vectorizes the scan.
    let control = value.bytes().fold(false, |found, b| found | (b < 0x20) | (b == 0x7f));
    !control && !value.starts_with(' ') && !value.ends_with(' ')
}

/// Percent-encodes every byte outside the RFC 3986 unreserved set.
pub(crate) fn percent_encode(bytes: &[u8]) -> String {
    const KEEP: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    percent_encoding::percent_encode(bytes, KEEP).to_string()
}

fn text(s: &str) -> Option<Cow<'_, [u8]>> {
    Some(Cow::Borrowed(s.as_bytes()))
}

fn owned(s: String) -> Option<Cow<'static, [u8]>> {
    Some(Cow::Owned(s.into_bytes()))
}

fn value_bytes<'a>(value: &Value, identity: &'a Identity) -> Option<Cow<'a, [u8]>> {
    let san = identity.san();
    match value {
        Value::Subject => text(identity.subject_rfc4514()),
        Value::SubjectNode => owned(identity.subject().to_node_text()),
        Value::Issuer => text(identity.issuer_rfc4514()),
        Value::Serial => owned(identity.serial_hex()),
        Value::NotBefore => owned(crate::rfc3339::format(identity.not_before())?),
        Value::NotAfter => owned(crate::rfc3339::format(identity.not_after())?),
        Value::Sha256 => owned(identity.sha256_hex()),
        Value::SpiffeId => text(identity.spiffe_id()?),
        Value::SanDns => owned(san.dns.join(",")),
        Value::SanUri => owned(san.uri.join(",")),
        Value::SanEmail => owned(san.email.join(",")),
        Value::SanIp => owned(san.ip.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")),
        Value::Cn => {
            let cn = identity.subject().attributes().filter(|a| a.oid == "2.5.4.3").last()?;
            match &cn.value {
                AttributeValue::Text(t) => text(t),
                AttributeValue::Der(der) => owned(format!("#{}", hex(der))),
            }
        }
        Value::Attr(oid) => {
            let values: Vec<String> = identity
                .subject()
                .attributes()
                .filter(|a| a.oid == *oid)
                .map(|a| match &a.value {
                    AttributeValue::Text(t) => escape_value(t),
                    AttributeValue::Der(der) => format!("#{}", hex(der)),
                })
                .collect();
            owned(values.join(","))
        }
        Value::Cert => Some(Cow::Borrowed(identity.der())),
        Value::Json => owned(identity.inspect_json()),
        Value::Rfc9440Cert => owned(format!(":{}:", base64::engine::general_purpose::STANDARD.encode(identity.der()))),
        Value::Xfcc => owned(xfcc_element(identity)),
        Value::AlbSerial => owned(identity.serial_hex().to_ascii_uppercase()),
        Value::AlbValidity => owned(format!(
            "NotBefore={};NotAfter={}",
            crate::rfc3339::format(identity.not_before())?,
            crate::rfc3339::format(identity.not_after())?
        )),
        Value::AlbLeaf => owned(percent_encode(identity.pem().as_bytes())),
    }
}

/// One element of Envoy's `x-forwarded-client-cert`: `Hash`, `Cert`, `Subject`, then each `URI`
/// and `DNS` SAN. Values with `,` `;` `=` `"` or `\` are quoted, with `"` and `\` escaped inside.
fn xfcc_element(identity: &Identity) -> String {
    let mut pairs = vec![
        format!("Hash={}", identity.sha256_hex()),
        format!("Cert={}", xfcc_quote(&percent_encode(identity.pem().as_bytes()), true)),
        format!("Subject={}", xfcc_quote(identity.subject_rfc4514(), true)),
    ];
    pairs.extend(identity.san().uri.iter().map(|uri| format!("URI={}", xfcc_quote(uri, false))));
    pairs.extend(identity.san().dns.iter().map(|dns| format!("DNS={}", xfcc_quote(dns, false))));
    pairs.join(";")
}

fn xfcc_quote(value: &str, always: bool) -> String {
    if !always && !value.contains([',', ';', '=', '"', '\\']) {
        return value.to_owned();
    }
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn identity(name: &str) -> Identity {
        let path = format!("{}/../certs/{name}.pem", env!("CARGO_MANIFEST_DIR"));
        crate::parse(&std::fs::read(path).unwrap()).unwrap()
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_secs(1_798_761_600)
    }

    fn headers(config: &str, name: &str) -> Vec<(String, String)> {
        match decide(&identity(name), &Config::from_json(config).unwrap(), now()) {
            Decision::Allow { headers } => headers.into_iter().map(|h| (h.name, h.value)).collect(),
            Decision::Deny { reason } => panic!("denied: {reason}"),
        }
    }

    fn reason(config: &str, name: &str) -> DenyReason {
        match decide(&identity(name), &Config::from_json(config).unwrap(), now()) {
            Decision::Deny { reason } => reason,
            Decision::Allow { headers } => panic!("allowed: {headers:?}"),
        }
    }

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn one(value: &str, encoding: &str, name: &str) -> Option<String> {
        let config = format!(r#"{{"headers":[{{"name":"x-v","value":"{value}","encoding":"{encoding}"}}],"max_header_bytes":65536}}"#);
        headers(&config, name).into_iter().next().map(|(_, v)| v)
    }

    #[test]
    fn empty_config_sets_base64_of_the_rfc4514_subject() {
        assert_eq!(
            headers("{}", "client"),
            [("x-client-cert-sub".to_owned(), b64(r"CN=client-a,OU=Payments,O=Acme\, Inc.,C=US"))]
        );
    }

    #[test]
    fn renders_every_value() {
        let id = identity("client");
        let raw = |value| one(value, "raw", "client");
        assert_eq!(raw("subject").unwrap(), id.subject_rfc4514());
        assert_eq!(raw("subject_node").unwrap(), r"C=US,O=Acme\, Inc.,OU=Payments,CN=client-a");
        assert_eq!(raw("issuer").unwrap(), "CN=certprop Test CA,O=certprop");
        assert_eq!(raw("serial").unwrap(), id.serial_hex());
        assert_eq!(raw("not_before").unwrap(), "2025-01-01T00:00:00Z");
        assert_eq!(raw("not_after").unwrap(), "2125-01-01T00:00:00Z");
        assert_eq!(raw("sha256").unwrap(), id.sha256_hex());
        assert_eq!(raw("spiffe_id"), None);
        assert_eq!(raw("san_dns").unwrap(), "client-a.example.org");
        assert_eq!(raw("san_uri"), None);
        assert_eq!(raw("san_email").unwrap(), "client-a@example.org");
        assert_eq!(raw("san_ip").unwrap(), "10.1.2.3,2001:db8::1");
        assert_eq!(raw("cn").unwrap(), "client-a");
        assert_eq!(raw("attr:O").unwrap(), r"Acme\, Inc.");
        assert_eq!(raw("attr:2.5.4.11").unwrap(), "Payments");
        assert_eq!(raw("attr:DC"), None);
        assert_eq!(raw("json").unwrap(), id.inspect_json());
        assert_eq!(one("cert", "base64", "client").unwrap(), b64_bytes(id.der()));
        assert_eq!(one("spiffe_id", "raw", "spiffe").unwrap(), "spiffe://example.org/ns/default/sa/client");
        assert_eq!(one("subject", "base64", "spiffe"), None, "an empty subject sets no header");
    }

    fn b64_bytes(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn every_encoding() {
        let subject = r"CN=client-a,OU=Payments,O=Acme\, Inc.,C=US";
        assert_eq!(one("subject", "base64", "client").unwrap(), b64(subject));
        assert_eq!(
            one("subject", "base64url", "client").unwrap(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(subject)
        );
        assert_eq!(one("subject", "percent", "client").unwrap(), "CN%3Dclient-a%2COU%3DPayments%2CO%3DAcme%5C%2C%20Inc.%2CC%3DUS");
        assert_eq!(one("subject", "raw", "client").unwrap(), subject);
    }

    #[test]
    fn raw_never_carries_control_bytes() {
        // The RFC 4514 text escapes CR/LF/NUL/TAB, so raw is safe; the DER is not text at all.
        let value = one("subject", "raw", "hostile-crlf").unwrap();
        assert!(is_safe_header_value(&value) && value.contains(r"\0D\0A"));
        let config = r#"{"headers":[{"name":"x-der","value":"cert","encoding":"raw"}]}"#;
        assert_eq!(reason(config, "client"), DenyReason::UnsafeHeaderValue);
        let config = r#"{"headers":[{"name":"x-o","value":"attr:OU","encoding":"raw"}]}"#;
        assert!(is_safe_header_value(&headers(config, "hostile-crlf")[0].1));
    }

    #[test]
    fn safe_header_values() {
        for unsafe_value in ["a\rb", "a\nb", "a\0b", "a\tb", "a\u{7f}", " a", "a "] {
            assert!(!is_safe_header_value(unsafe_value), "{unsafe_value:?}");
        }
        for safe in ["a b", "Zoë 日本", "x=\"y\";z"] {
            assert!(is_safe_header_value(safe), "{safe:?}");
        }
    }

    #[test]
    fn over_the_limit_is_denied_never_truncated() {
        assert_eq!(reason("{}", "huge-subject"), DenyReason::HeaderTooLarge);
        let len = one("subject", "base64", "client").unwrap().len();
        let at = format!(r#"{{"max_header_bytes":{len}}}"#);
        assert_eq!(headers(&at, "client")[0].1.len(), len);
        let below = format!(r#"{{"max_header_bytes":{}}}"#, len - 1);
        assert_eq!(reason(&below, "client"), DenyReason::HeaderTooLarge);
    }

    #[test]
    fn presets() {
        let id = identity("client");
        assert_eq!(
            headers(r#"{"preset":"aws-sample"}"#, "client"),
            [("x-client-cert-sub".to_owned(), r"C=US,O=Acme\, Inc.,OU=Payments,CN=client-a".to_owned())]
        );
        assert_eq!(headers(r#"{"preset":"rfc9440"}"#, "client"), [("client-cert".to_owned(), format!(":{}:", b64_bytes(id.der())))]);
        let xfcc = &headers(r#"{"preset":"xfcc"}"#, "client")[0];
        assert_eq!(xfcc.0, "x-forwarded-client-cert");
        let expected = format!(
            r#"Hash={};Cert="{}";Subject="CN=client-a,OU=Payments,O=Acme\\, Inc.,C=US";DNS=client-a.example.org"#,
            id.sha256_hex(),
            percent_encode(id.pem().as_bytes())
        );
        assert_eq!(xfcc.1, expected);
        assert_eq!(crate::parse(percent_encode(id.pem().as_bytes()).as_bytes()).unwrap(), id);
        let alb: Vec<String> = headers(r#"{"preset":"alb"}"#, "client").into_iter().map(|(n, v)| format!("{n}: {v}")).collect();
        assert_eq!(alb[0], format!("x-amzn-mtls-clientcert-serial-number: {}", id.serial_hex().to_uppercase()));
        assert_eq!(alb[1], "x-amzn-mtls-clientcert-issuer: CN=certprop Test CA,O=certprop");
        assert_eq!(alb[2], r"x-amzn-mtls-clientcert-subject: CN=client-a,OU=Payments,O=Acme\, Inc.,C=US");
        assert_eq!(alb[3], "x-amzn-mtls-clientcert-validity: NotBefore=2025-01-01T00:00:00Z;NotAfter=2125-01-01T00:00:00Z");
        assert_eq!(alb[4], format!("x-amzn-mtls-clientcert-leaf: {}", percent_encode(id.pem().as_bytes())));
    }

    #[test]
    fn xfcc_quotes_values_with_separators() {
        assert_eq!(xfcc_quote("spiffe://a/b", false), "spiffe://a/b");
        assert_eq!(xfcc_quote("a;b", false), "\"a;b\"");
        assert_eq!(xfcc_quote(r#"a"b\c"#, true), r#""a\"b\\c""#);
    }

    #[test]
    fn policy_denials_come_before_rendering() {
        assert_eq!(reason("{}", "expired"), DenyReason::Expired);
        assert_eq!(reason("{}", "not-yet-valid"), DenyReason::NotYetValid);
        assert_eq!(reason(r#"{"policy":{"allow":[{"dns_san":"nothing"}]}}"#, "client"), DenyReason::PolicyDenied);
    }

    #[test]
    fn one_verdict_decides_at_each_time_as_decide_does() {
        let configs = [
            "{}",
            r#"{"policy":{"clock_skew_seconds":30,"deny":[{"subject":"CN=expired-*,OU=Payments,O=Acme\\, Inc.,C=US"}]}}"#,
            r#"{"policy":{"check_validity":false,"require_client_auth_eku":true}}"#,
            r#"{"preset":"xfcc","max_header_bytes":64}"#,
        ];
        for name in ["client", "expired", "not-yet-valid", "no-eku", "huge-subject"] {
            let identity = identity(name);
            let times = [
                UNIX_EPOCH,
                now(),
                UNIX_EPOCH + std::time::Duration::from_secs(identity.not_before().unsigned_abs()),
                UNIX_EPOCH + std::time::Duration::from_secs(identity.not_after().unsigned_abs() + 29),
                UNIX_EPOCH + std::time::Duration::from_secs(identity.not_after().unsigned_abs() + 31),
            ];
            for text in configs {
                let config = Config::from_json(text).unwrap();
                let verdict = Verdict::new(&identity, &config);
                for at in times {
                    assert_eq!(verdict.decide(&config, at), decide(&identity, &config, at), "{name} {text} {at:?}");
                }
            }
        }
        // Validity is checked first, at the time of the request: the verdict remembers the rest.
        let config = Config::from_json(r#"{"policy":{"deny":[{"subject":"CN=expired-*,OU=Payments,O=Acme\\, Inc.,C=US"}]}}"#).unwrap();
        let expired = identity("expired");
        let verdict = Verdict::new(&expired, &config);
        assert_eq!(verdict.decide(&config, now()), Decision::Deny { reason: DenyReason::Expired });
        let inside = UNIX_EPOCH + std::time::Duration::from_secs(expired.not_before().unsigned_abs() + 1);
        assert_eq!(verdict.decide(&config, inside), Decision::Deny { reason: DenyReason::PolicyDenied });
    }

    #[test]
    fn missing_certificate() {
        assert_eq!(
            decide_without_certificate(&Config::default()),
            Decision::Deny { reason: DenyReason::MissingCertificate }
        );
        let allow = Config::from_json(r#"{"on_missing_cert":"allow"}"#).unwrap();
        assert_eq!(decide_without_certificate(&allow), Decision::Allow { headers: Vec::new() });
    }

    #[test]
    fn reasons_are_distinct_snake_case_words() {
        let words: std::collections::HashSet<&str> = DenyReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(words.len(), DenyReason::ALL.len());
        assert!(words.iter().all(|w| w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    }

    #[test]
    fn times_before_the_epoch_are_not_valid() {
        let config = Config::default();
        let before = UNIX_EPOCH - std::time::Duration::from_secs(10);
        assert_eq!(decide(&identity("client"), &config, before), Decision::Deny { reason: DenyReason::NotYetValid });
    }
}
