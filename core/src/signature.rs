//! Signed identity: an HMAC-SHA256 over the identity headers, a timestamp and a key id, so a
//! backend can tell headers an edge set from headers that reached it some other way.
//!
//! ```text
//! edge:     decide(identity, config, now) ──► identity headers + x-client-cert-signature
//!                                                 v1;kid=<id>;t=<unix seconds>;sig=<base64url>
//! backend:  verify(config, request headers, now) ──► Verified { key_id, timestamp, headers }
//!                                                     | VerifyError
//! ```
//!
//! The MAC covers, one per line: `certprop-signature-v1`, `kid=<id>`, `t=<seconds>`, then
//! `<name>:<value>` for every header the config sets, in config order, with an empty value for a
//! header the edge did not set. So a backend that checks the signature knows that each identity
//! header it sees, and each one it does not, is what the edge decided. Header values never hold
//! control bytes and key ids are tokens, so the lines cannot run into each other.
//!
//! The edge signs with the first key of `signature.keys`; `verify` accepts any of them, which is
//! how keys rotate: add the new key second, deploy backends, move it first, deploy edges, drop the
//! old one. A request without a client certificate carries no identity and gets no signature.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Config;
use crate::decision::Header;

type HmacSha256 = Hmac<Sha256>;

/// Default name of the signature header.
pub const DEFAULT_SIGNATURE_HEADER: &str = "x-client-cert-signature";
/// Default `signature.max_age_seconds`.
pub const DEFAULT_MAX_AGE_SECONDS: u32 = 300;
/// Fewest bytes a secret may have: the output size of SHA-256.
pub const MIN_SECRET_BYTES: usize = 32;
const VERSION: &str = "v1";
const DOMAIN: &str = "certprop-signature-v1";

/// One HMAC key: its id, named in every signature, and the keyed MAC state.
#[derive(Clone)]
pub struct SigningKey {
    id: String,
    secret: Vec<u8>,
    mac: HmacSha256,
}

impl SigningKey {
    /// A key from its id and secret; `None` when the secret is shorter than [`MIN_SECRET_BYTES`].
    pub(crate) fn new(id: String, secret: Vec<u8>) -> Option<SigningKey> {
        if secret.len() < MIN_SECRET_BYTES {
            return None;
        }
        let mac = HmacSha256::new_from_slice(&secret).ok()?;
        Some(SigningKey { id, secret, mac })
    }

    /// The key id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl PartialEq for SigningKey {
    fn eq(&self, other: &SigningKey) -> bool {
        self.id == other.id && self.secret == other.secret
    }
}

impl Eq for SigningKey {}

impl std::fmt::Debug for SigningKey {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("id", &self.id).field("secret", &"<redacted>").finish()
    }
}

/// The `signature` block of a config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub(crate) header: String,
    pub(crate) keys: Vec<SigningKey>,
    pub(crate) max_age_seconds: u32,
}

impl Signature {
    /// Name of the signature header, lowercase.
    pub fn header(&self) -> &str {
        &self.header
    }

    /// The keys; the first one signs.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// How old (or how far in the future) a signature's timestamp may be for `verify`.
    pub fn max_age_seconds(&self) -> u32 {
        self.max_age_seconds
    }
}

/// The signature header for the headers `decide` set, at `now` (Unix seconds).
pub(crate) fn sign(signature: &Signature, config: &Config, headers: &[Header], now: i64) -> Option<Header> {
    let key = signature.keys.first()?;
    let value = |name: &str| headers.iter().find(|h| h.name == name).map(|h| h.value.as_str());
    let tag = mac(key, config, now, value).finalize().into_bytes();
    Some(Header {
        name: signature.header.clone(),
        value: format!(
            "{VERSION};kid={};t={now};sig={}",
            key.id,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag)
        ),
    })
}

/// The MAC over the signed lines, before finalising.
fn mac<'v>(key: &SigningKey, config: &Config, time: i64, value: impl Fn(&str) -> Option<&'v str>) -> HmacSha256 {
    let mut mac = key.mac.clone();
    for part in [DOMAIN, "\nkid=", &key.id, "\nt=", &time.to_string()] {
        mac.update(part.as_bytes());
    }
    for spec in config.headers() {
        for part in ["\n", &spec.name, ":", value(&spec.name).unwrap_or("")] {
            mac.update(part.as_bytes());
        }
    }
    mac
}

/// Why a request's identity headers did not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The config has no `signature` block.
    #[error("the config has no signature block")]
    NotConfigured,
    /// The request has no signature header.
    #[error("no {0} header")]
    MissingSignature(String),
    /// A signed header (or the signature itself) appears more than once.
    #[error("header {0} appears more than once")]
    RepeatedHeader(String),
    /// The signature header is not `v1;kid=…;t=…;sig=…`.
    #[error("malformed signature header: {0}")]
    Malformed(&'static str),
    /// The key id is not one of the config's keys.
    #[error("unknown key id {0:?}")]
    UnknownKey(String),
    /// The timestamp is further from `now` than `max_age_seconds`.
    #[error("signature time {timestamp} is {age} s from now, more than {max_age} s")]
    OutsideWindow {
        /// The signature's Unix time.
        timestamp: i64,
        /// Seconds between it and now (either way).
        age: u64,
        /// `signature.max_age_seconds`.
        max_age: u32,
    },
    /// The MAC does not match: a header was changed, added or removed, or another key signed it.
    #[error("signature does not match the identity headers")]
    BadSignature,
}

impl VerifyError {
    /// A stable snake_case word for logs and responses.
    pub fn as_str(&self) -> &'static str {
        match self {
            VerifyError::NotConfigured => "not_configured",
            VerifyError::MissingSignature(_) => "missing_signature",
            VerifyError::RepeatedHeader(_) => "repeated_header",
            VerifyError::Malformed(_) => "malformed_signature",
            VerifyError::UnknownKey(_) => "unknown_key",
            VerifyError::OutsideWindow { .. } => "outside_window",
            VerifyError::BadSignature => "bad_signature",
        }
    }
}

/// Identity headers whose signature checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Id of the key that signed them.
    pub key_id: String,
    /// When the edge signed them, Unix seconds.
    pub timestamp: i64,
    /// The signed identity headers the request carries, in config order (absent and empty ones left out).
    pub headers: Vec<Header>,
}

/// Checks the signature header of a request as a backend received it. `headers` are the request's
/// headers, names in any case, each occurrence once; `config` is the edge's config (the same file).
pub fn verify(config: &Config, headers: &[(&str, &str)], now: SystemTime) -> Result<Verified, VerifyError> {
    let signature = config.signature().ok_or(VerifyError::NotConfigured)?;
    let single = |name: &str| -> Result<Option<&str>, VerifyError> {
        let mut found = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v);
        let first = found.next();
        match found.next() {
            Some(_) => Err(VerifyError::RepeatedHeader(name.to_owned())),
            None => Ok(first),
        }
    };
    let value = single(&signature.header)?.ok_or_else(|| VerifyError::MissingSignature(signature.header.clone()))?;
    let (key_id, timestamp, tag) = parse_signature(value)?;
    let key = signature.keys.iter().find(|k| k.id == key_id).ok_or_else(|| VerifyError::UnknownKey(key_id.to_owned()))?;

    let now = unix_seconds(now);
    let age = now.abs_diff(timestamp);
    if age > u64::from(signature.max_age_seconds) {
        return Err(VerifyError::OutsideWindow { timestamp, age, max_age: signature.max_age_seconds });
    }

    let mut signed = Vec::with_capacity(config.headers().len());
    for spec in config.headers() {
        // Empty and absent sign the same: API Gateway may send a mapped header whose context key
        // is missing as an empty one.
        if let Some(value) = single(&spec.name)?.filter(|v| !v.is_empty()) {
            signed.push(Header { name: spec.name.clone(), value: value.to_owned() });
        }
    }
    let lookup = |name: &str| signed.iter().find(|h| h.name == name).map(|h| h.value.as_str());
    mac(key, config, timestamp, lookup).verify_slice(&tag).map_err(|_| VerifyError::BadSignature)?;
    Ok(Verified { key_id: key.id.clone(), timestamp, headers: signed })
}

/// `v1;kid=<id>;t=<seconds>;sig=<base64url>` → (id, seconds, MAC bytes).
fn parse_signature(value: &str) -> Result<(&str, i64, Vec<u8>), VerifyError> {
    let mut fields = value.split(';');
    if fields.next() != Some(VERSION) {
        return Err(VerifyError::Malformed("expected version v1"));
    }
    let mut field = |name: &'static str| {
        fields
            .next()
            .and_then(|f| f.strip_prefix(name))
            .and_then(|f| f.strip_prefix('='))
            .ok_or(VerifyError::Malformed(name))
    };
    let key_id = field("kid")?;
    let time = field("t")?;
    let tag = field("sig")?;
    if fields.next().is_some() {
        return Err(VerifyError::Malformed("unexpected field after sig"));
    }
    let valid_time = !time.is_empty() && time.len() <= 19 && time.trim_start_matches('-').bytes().all(|b| b.is_ascii_digit());
    let timestamp = time.parse::<i64>().ok().filter(|_| valid_time).ok_or(VerifyError::Malformed("t"))?;
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tag).map_err(|_| VerifyError::Malformed("sig"))?;
    Ok((key_id, timestamp, tag))
}

/// Seconds since the Unix epoch, negative before it, saturating.
pub(crate) fn unix_seconds(now: SystemTime) -> i64 {
    match now.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// A key id: 1 to 64 letters, digits, `.`, `_` or `-`, so it reads the same in a header.
pub(crate) fn is_key_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decide, parse, Decision};
    use std::time::Duration;

    const KEY_A: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes
    const KEY_B: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="; // 32 other bytes

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    const T: u64 = 1_798_761_600;

    fn config(keys: &[(&str, &str)]) -> Config {
        let keys: Vec<String> = keys.iter().map(|(id, secret)| format!(r#"{{"id":"{id}","secret":"{secret}"}}"#)).collect();
        let text = format!(
            r#"{{"headers":[{{"name":"x-client-cert-sub","value":"subject"}},{{"name":"x-client-cert-spiffe-id","value":"spiffe_id","encoding":"raw"}}],
                "signature":{{"keys":[{}],"max_age_seconds":60}}}}"#,
            keys.join(",")
        );
        Config::from_json(&text).unwrap()
    }

    /// The headers an edge sets for `certs/<name>.pem` at time `T`.
    fn signed(config: &Config, name: &str) -> Vec<(String, String)> {
        let path = format!("{}/../certs/{name}.pem", env!("CARGO_MANIFEST_DIR"));
        let identity = parse(&std::fs::read(path).unwrap()).unwrap();
        match decide(&identity, config, at(T)) {
            Decision::Allow { headers } => headers.into_iter().map(|h| (h.name, h.value)).collect(),
            Decision::Deny { reason } => panic!("denied: {reason}"),
        }
    }

    fn check(config: &Config, headers: &[(String, String)], now: u64) -> Result<Verified, VerifyError> {
        let borrowed: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        verify(config, &borrowed, at(now))
    }

    #[test]
    fn the_edge_signs_last_and_a_backend_verifies() {
        let config = config(&[("k1", KEY_A)]);
        let headers = signed(&config, "client");
        let (name, value) = headers.last().unwrap();
        assert_eq!(name, "x-client-cert-signature");
        assert!(value.starts_with(&format!("v1;kid=k1;t={T};sig=")), "{value}");
        let verified = check(&config, &headers, T + 5).unwrap();
        assert_eq!(verified.key_id, "k1");
        assert_eq!(verified.timestamp, T as i64);
        assert_eq!(verified.headers.len(), 1, "client has no SPIFFE ID: only the subject is signed and present");
        assert_eq!(verified.headers[0].value, headers[0].1);
        assert!(config.headers_to_strip().contains(&"x-client-cert-signature".to_owned()));
    }

    #[test]
    fn header_names_match_in_any_case() {
        let config = config(&[("k1", KEY_A)]);
        let headers: Vec<(String, String)> =
            signed(&config, "spiffe").into_iter().map(|(n, v)| (n.to_ascii_uppercase(), v)).collect();
        assert_eq!(check(&config, &headers, T).unwrap().headers.len(), 1);
    }

    #[test]
    fn a_changed_value_fails() {
        let config = config(&[("k1", KEY_A)]);
        let mut headers = signed(&config, "client");
        headers[0].1.push('A');
        assert_eq!(check(&config, &headers, T), Err(VerifyError::BadSignature));
    }

    #[test]
    fn an_added_or_removed_identity_header_fails() {
        let config = config(&[("k1", KEY_A)]);
        let mut added = signed(&config, "client");
        added.insert(0, ("x-client-cert-spiffe-id".into(), "spiffe://example.org/admin".into()));
        assert_eq!(check(&config, &added, T), Err(VerifyError::BadSignature));

        let mut removed = signed(&config, "client");
        removed.remove(0);
        assert_eq!(check(&config, &removed, T), Err(VerifyError::BadSignature));
    }

    #[test]
    fn an_empty_header_reads_as_absent() {
        let config = config(&[("k1", KEY_A)]);
        let mut headers = signed(&config, "client");
        headers.push(("x-client-cert-spiffe-id".into(), String::new()));
        assert_eq!(check(&config, &headers, T).unwrap().headers.len(), 1);
    }

    #[test]
    fn a_repeated_header_is_refused_not_guessed() {
        let config = config(&[("k1", KEY_A)]);
        let mut headers = signed(&config, "client");
        headers.push(headers[0].clone());
        assert_eq!(check(&config, &headers, T), Err(VerifyError::RepeatedHeader("x-client-cert-sub".into())));
    }

    #[test]
    fn another_key_id_or_another_key_fails() {
        let edge = config(&[("k1", KEY_A)]);
        let headers = signed(&edge, "client");
        let other_id = config(&[("k2", KEY_A)]);
        assert_eq!(check(&other_id, &headers, T), Err(VerifyError::UnknownKey("k1".into())));
        let other_secret = config(&[("k1", KEY_B)]);
        assert_eq!(check(&other_secret, &headers, T), Err(VerifyError::BadSignature));
    }

    #[test]
    fn a_replay_outside_the_window_fails_either_way() {
        let config = config(&[("k1", KEY_A)]);
        let headers = signed(&config, "client");
        assert!(check(&config, &headers, T + 60).is_ok());
        assert_eq!(
            check(&config, &headers, T + 61),
            Err(VerifyError::OutsideWindow { timestamp: T as i64, age: 61, max_age: 60 })
        );
        assert!(matches!(check(&config, &headers, T - 61), Err(VerifyError::OutsideWindow { age: 61, .. })));
    }

    #[test]
    fn keys_rotate_with_two_keys() {
        let old_edge = config(&[("old", KEY_A)]);
        let new_edge = config(&[("new", KEY_B), ("old", KEY_A)]);
        let backend = config(&[("new", KEY_B), ("old", KEY_A)]);
        assert_eq!(check(&backend, &signed(&old_edge, "client"), T).unwrap().key_id, "old");
        assert_eq!(check(&backend, &signed(&new_edge, "client"), T).unwrap().key_id, "new");
        let retired = config(&[("new", KEY_B)]);
        assert_eq!(check(&retired, &signed(&old_edge, "client"), T), Err(VerifyError::UnknownKey("old".into())));
    }

    #[test]
    fn malformed_or_missing_signatures() {
        let config = config(&[("k1", KEY_A)]);
        let subject = signed(&config, "client")[0].clone();
        let with = |value: &str| vec![subject.clone(), ("x-client-cert-signature".to_owned(), value.to_owned())];
        assert_eq!(check(&config, &[subject.clone()], T), Err(VerifyError::MissingSignature("x-client-cert-signature".into())));
        for value in ["", "v2;kid=k1;t=1;sig=AA", "v1;kid=k1;sig=AA", "v1;kid=k1;t=x;sig=AA", "v1;kid=k1;t=1;sig=***", "v1;kid=k1;t=1;sig=AA;x=1"] {
            assert!(matches!(check(&config, &with(value), T), Err(VerifyError::Malformed(_))), "{value}");
        }
        assert_eq!(verify(&Config::default(), &[], at(T)), Err(VerifyError::NotConfigured));
    }

    #[test]
    fn config_errors_name_the_path() {
        let error = |signature: &str| {
            Config::from_json(&format!(r#"{{"signature":{signature}}}"#)).unwrap_err().to_string()
        };
        assert!(error(r#"{"keys":[]}"#).contains("signature.keys:"));
        assert!(error(r#"{"keys":[{"id":"k 1","secret":"x"}]}"#).contains("signature.keys[0].id"));
        assert!(error(r#"{"keys":[{"id":"k1","secret":"c2hvcnQ="}]}"#).contains("signature.keys[0].secret"));
        assert!(error(&format!(r#"{{"keys":[{{"id":"k1","secret":"{KEY_A}"}},{{"id":"k1","secret":"{KEY_B}"}}]}}"#))
            .contains("signature.keys[1].id"));
        assert!(error(&format!(r#"{{"header":"x-client-cert-sub","keys":[{{"id":"k1","secret":"{KEY_A}"}}]}}"#))
            .contains("signature.header"));
        assert!(error(&format!(r#"{{"keys":[{{"id":"k1","secret":"{KEY_A}"}}],"max_age_seconds":0}}"#))
            .contains("signature.max_age_seconds"));
        assert!(error(r#"{"keys":[{"id":"k1","secret":"x","extra":1}]}"#).contains("signature.keys[0]"));
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let config = config(&[("k1", KEY_A)]);
        let text = format!("{config:?}");
        assert!(!text.contains(KEY_A) && !text.contains("0123456789abcdef"), "{text}");
        assert!(text.contains("<redacted>"));
    }
}
