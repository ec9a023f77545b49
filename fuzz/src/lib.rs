//! The bodies of certprop's fuzz targets and the invariants they assert, in one place: the
//! libFuzzer binaries in `fuzz_targets/` call these functions, and `tests/replay.rs` runs the
//! committed corpus and every regression file through the same functions on stable (`make test`).
//!
//! ```text
//!  target   input                                  core calls
//!  parse    certificate bytes                      parse, then every header value, every encoding
//!  config   config text                            Config::from_json, decide_without_certificate
//!  decide   config ‖ now ‖ certificate (DecideInput) Config::from_json, parse, decide / decide_without_certificate
//! ```
//!
//! Asserted for every header an allowed request would get ([`check_decision`]): the name is an
//! RFC 9110 token, is removed from incoming requests (`headers_to_strip`) and is set once; the value
//! is not empty, is at most `max_header_bytes` long and holds no control byte (below 0x20, or 0x7f).
//! With a `signature` block, `verify` accepts what `decide` set. A panic anywhere is a finding
//! too. `parse` also asserts that the RFC 4514 subject and issuer read back as the same names, and
//! that only `raw` values can be unsafe.

#![forbid(unsafe_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use certprop::dn::DistinguishedName;
use certprop::{Config, Decision, DenyReason, Encoding, HeaderSpec, Identity, Value};

/// Every target by name, as `cargo fuzz` and the corpus directories name them.
pub const TARGETS: [(&str, fn(&[u8])); 3] = [("parse", parse), ("config", config), ("decide", decide)];

/// The largest `max_header_bytes` a config may set.
const LARGEST_MAX_HEADER_BYTES: usize = 65_536;

/// Target `parse`: arbitrary bytes as a certificate. A certificate that parses is rendered as
/// every header value in every encoding.
pub fn parse(data: &[u8]) {
    let Ok(identity) = certprop::parse(data) else { return };
    check_names_read_back(&identity);
    for value in all_values() {
        for encoding in [Encoding::Base64, Encoding::Base64url, Encoding::Percent, Encoding::Raw] {
            let spec = HeaderSpec { name: "x-fuzz".into(), value: value.clone(), encoding };
            match certprop::render_header(&spec, &identity, LARGEST_MAX_HEADER_BYTES) {
                Ok(Some(text)) => check_value(&text, LARGEST_MAX_HEADER_BYTES, &spec.name),
                Ok(None) | Err(DenyReason::HeaderTooLarge) => {}
                Err(DenyReason::UnsafeHeaderValue) => assert!(
                    encoding == Encoding::Raw,
                    "{value:?} in encoding {} was refused as unsafe: only raw values can be",
                    encoding.name()
                ),
                Err(other) => panic!("rendering {value:?} denied with {other}"),
            }
        }
    }
    let _ = identity.inspect_json();
}

/// Target `config`: arbitrary text as a config document.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Config::from_json(text) {
        Ok(config) => {
            check_config(&config);
            check_decision(&config, &certprop::decide_without_certificate(&config));
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
}

/// Target `decide`: a config, a time and a certificate, laid out as [`DecideInput`]. A config
/// that does not parse is replaced by `{}`, so the certificate is still decided on.
pub fn decide(data: &[u8]) {
    let input = DecideInput::split(data);
    let config = std::str::from_utf8(input.config)
        .ok()
        .and_then(|text| Config::from_json(text).ok())
        .unwrap_or_default();
    check_config(&config);
    let decision = if input.certificate.is_empty() {
        certprop::decide_without_certificate(&config)
    } else {
        match certprop::parse(input.certificate) {
            Ok(identity) => certprop::decide(&identity, &config, input.now()),
            Err(_) => return,
        }
    };
    check_decision(&config, &decision);
    check_signature_verifies(&config, &decision, input.now());
}

/// With a `signature` block, a backend holding the same config verifies what the edge set, at
/// the time it was set.
fn check_signature_verifies(config: &Config, decision: &Decision, now: SystemTime) {
    let (Some(signature), Decision::Allow { headers }) = (config.signature(), decision) else { return };
    let Some(last) = headers.last() else { return };
    if last.name != signature.header() {
        return; // no certificate: nothing signed
    }
    let pairs: Vec<(&str, &str)> = headers.iter().map(|h| (h.name.as_str(), h.value.as_str())).collect();
    if let Err(error) = certprop::verify(config, &pairs, now) {
        panic!("the edge's own headers do not verify: {error}: {headers:?}");
    }
}

/// The input of target `decide`:
///
/// ```text
///  u16 LE n │ n bytes: config text │ i64 LE: now, seconds since the Unix epoch │ certificate (rest)
/// ```
///
/// Missing bytes read as zero or empty: a short input is an empty config, time 0 and no
/// certificate (which is decided by `decide_without_certificate`). `fuzz/make_seeds.py` writes
/// this layout.
#[derive(Clone, Copy, Debug)]
pub struct DecideInput<'a> {
    /// Config text (not necessarily UTF-8 or valid).
    pub config: &'a [u8],
    /// Seconds since the Unix epoch.
    pub unix_seconds: i64,
    /// Certificate bytes; empty = a request without a certificate.
    pub certificate: &'a [u8],
}

impl<'a> DecideInput<'a> {
    /// Splits fuzz input into its three parts.
    pub fn split(data: &'a [u8]) -> Self {
        let (length, rest) = take(data, 2);
        let mut n = [0u8; 2];
        n[..length.len()].copy_from_slice(length);
        let (config, rest) = take(rest, usize::from(u16::from_le_bytes(n)));
        let (time, certificate) = take(rest, 8);
        let mut t = [0u8; 8];
        t[..time.len()].copy_from_slice(time);
        DecideInput { config, unix_seconds: i64::from_le_bytes(t), certificate }
    }

    /// `unix_seconds` as a `SystemTime` (the epoch when it cannot be represented).
    pub fn now(&self) -> SystemTime {
        let offset = Duration::from_secs(self.unix_seconds.unsigned_abs());
        let now = if self.unix_seconds >= 0 { UNIX_EPOCH.checked_add(offset) } else { UNIX_EPOCH.checked_sub(offset) };
        now.unwrap_or(UNIX_EPOCH)
    }
}

fn take(data: &[u8], n: usize) -> (&[u8], &[u8]) {
    data.split_at(n.min(data.len()))
}

/// RFC 9110 `tchar`.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9110 `token`: one or more `tchar`.
pub fn is_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_tchar)
}

/// A checked config: every header it sets or strips is a token, and every header it sets is
/// also stripped from incoming requests.
pub fn check_config(config: &Config) {
    for name in config.headers_to_strip() {
        assert!(is_token(name), "strip entry {name:?} is not an HTTP token");
    }
    for header in config.headers() {
        assert!(is_token(&header.name), "header name {:?} is not an HTTP token", header.name);
        assert!(
            config.headers_to_strip().contains(&header.name),
            "header {:?} is set but not stripped from incoming requests",
            header.name
        );
    }
    let max = config.max_header_bytes();
    assert!((1..=LARGEST_MAX_HEADER_BYTES).contains(&max), "max_header_bytes {max} outside 1..=65536");
}

/// A decision an edge may act on: see the crate docs for what is asserted of each header.
pub fn check_decision(config: &Config, decision: &Decision) {
    let Decision::Allow { headers } = decision else { return };
    for (i, header) in headers.iter().enumerate() {
        assert!(is_token(&header.name), "header name {:?} is not an HTTP token", header.name);
        assert!(
            config.headers_to_strip().contains(&header.name),
            "header {:?} is set but not stripped from incoming requests",
            header.name
        );
        assert!(
            !headers[..i].iter().any(|earlier| earlier.name == header.name),
            "header {:?} is set twice",
            header.name
        );
        check_value(&header.value, config.max_header_bytes(), &header.name);
    }
}

/// A header value: not empty, at most `max_bytes`, no control byte.
pub fn check_value(value: &str, max_bytes: usize, name: &str) {
    assert!(!value.is_empty(), "header {name:?} is set to an empty value");
    assert!(value.len() <= max_bytes, "header {name:?} is {} bytes, over the limit of {max_bytes}", value.len());
    if let Some(at) = value.bytes().position(|b| b < 0x20 || b == 0x7f) {
        panic!("header {name:?} holds control byte {:#04x} at {at}: {value:?}", value.as_bytes()[at]);
    }
}

/// The RFC 4514 text of the subject and issuer parses back to the same names (the design's
/// promise, which policy rules and backends rely on).
fn check_names_read_back(identity: &Identity) {
    for (which, name, text) in [
        ("subject", identity.subject(), identity.subject_rfc4514()),
        ("issuer", identity.issuer(), identity.issuer_rfc4514()),
    ] {
        match DistinguishedName::parse_rfc4514(text) {
            Ok(back) => assert!(back == *name, "{which} {text:?} reads back as {back:?}, not {name:?}"),
            Err(error) => panic!("{which} {text:?} does not read back: {error}"),
        }
    }
}

/// Every header value: those a config names, and those only presets use.
fn all_values() -> Vec<Value> {
    vec![
        Value::Subject,
        Value::SubjectNode,
        Value::Issuer,
        Value::Serial,
        Value::NotBefore,
        Value::NotAfter,
        Value::Sha256,
        Value::SpiffeId,
        Value::SanDns,
        Value::SanUri,
        Value::SanEmail,
        Value::SanIp,
        Value::Cn,
        Value::Attr("2.5.4.3".into()),
        Value::Attr("2.5.4.11".into()),
        Value::Attr("1.2.840.113549.1.9.1".into()),
        Value::Cert,
        Value::Json,
        Value::Rfc9440Cert,
        Value::Xfcc,
        Value::AlbSerial,
        Value::AlbValidity,
        Value::AlbLeaf,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decide_input_layout() {
        let mut data = 3u16.to_le_bytes().to_vec();
        data.extend_from_slice(b"{}x");
        data.extend_from_slice(&(-5i64).to_le_bytes());
        data.extend_from_slice(b"cert");
        let input = DecideInput::split(&data);
        assert_eq!((input.config, input.unix_seconds, input.certificate), (&b"{}x"[..], -5, &b"cert"[..]));
        let short = DecideInput::split(&[9]);
        assert_eq!((short.config, short.unix_seconds, short.certificate), (&b""[..], 0, &b""[..]));
        for unix_seconds in [i64::MIN, -1, i64::MAX] {
            let _ = DecideInput { config: b"", unix_seconds, certificate: b"" }.now();
        }
    }

    #[test]
    fn tokens() {
        assert!(is_token("x-client-cert-sub") && is_token("a!#$%&'*+-.^_`|~9"));
        assert!(!is_token("") && !is_token("a b") && !is_token("a:b") && !is_token("a\r") && !is_token("é"));
    }
}
