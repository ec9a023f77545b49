//! From certificate bytes (PEM, DER or URL-encoded PEM) to an [`Identity`].

use std::net::IpAddr;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use x509_parser::certificate::X509CertificateParser;
use x509_parser::error::X509Result;
use x509_parser::extensions::{ExtendedKeyUsage, SubjectAlternativeName};
use x509_parser::nom::Parser as _;
use x509_parser::oid_registry::{Oid, OID_X509_EXT_EXTENDED_KEY_USAGE, OID_X509_EXT_SUBJECT_ALT_NAME};
use x509_parser::prelude::{FromDer as _, X509Certificate, X509Name};

use crate::dn::{decode_string, Attribute, AttributeValue, DistinguishedName};
use crate::san::SubjectAltNames;

/// The largest input `parse` accepts: far above any real certificate chain, small enough that
/// hostile input cannot make a proxy allocate without bound.
pub const MAX_INPUT_BYTES: usize = 256 * 1024;

/// PEM labels of a certificate: RFC 7468's, and the legacy one OpenSSL still reads.
const PEM_LABELS: [(&[u8], &[u8]); 2] = [
    (b"-----BEGIN CERTIFICATE-----", b"-----END CERTIFICATE-----"),
    (b"-----BEGIN X509 CERTIFICATE-----", b"-----END X509 CERTIFICATE-----"),
];

/// Why certificate bytes did not give an identity.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The input is empty.
    #[error("empty input")]
    Empty,
    /// The input is larger than [`MAX_INPUT_BYTES`].
    #[error("input is {0} bytes, more than the {MAX_INPUT_BYTES} accepted")]
    TooLarge(usize),
    /// The input is neither PEM, URL-encoded PEM nor DER.
    #[error("not a certificate: expected PEM, URL-encoded PEM or DER")]
    UnrecognizedFormat,
    /// A PEM block has no END line.
    #[error("PEM certificate block has no END line")]
    UnterminatedPem,
    /// The PEM body is not base64.
    #[error("PEM certificate body is not valid base64")]
    InvalidBase64,
    /// URL-encoded PEM with an invalid `%` escape.
    #[error("URL-encoded PEM has an invalid percent escape")]
    InvalidPercentEscape,
    /// The DER is not an X.509 certificate.
    #[error("invalid X.509 DER: {0}")]
    InvalidDer(String),
    /// Bytes follow the certificate in DER input.
    #[error("{0} bytes of trailing data after the certificate")]
    TrailingData(usize),
    /// The version field is not v1, v2 or v3.
    #[error("unsupported X.509 version field {0} (v1 to v3 are 0 to 2)")]
    UnsupportedVersion(u32),
    /// An attribute value of the subject or issuer is not valid in its string type.
    #[error("invalid {string_type} in the {name} name")]
    InvalidAttributeValue {
        /// `subject` or `issuer`.
        name: &'static str,
        /// The ASN.1 string type.
        string_type: &'static str,
    },
    /// A time in the validity period cannot be represented.
    #[error("validity time out of range")]
    InvalidValidity,
    /// An extension certprop reads (SAN, EKU) is malformed or present twice.
    #[error("invalid or duplicate {0} extension")]
    InvalidExtension(&'static str),
    /// A subject alternative name entry is malformed.
    #[error("invalid subject alternative name: bad {0}")]
    InvalidSubjectAltName(&'static str),
}

/// The identity in a client certificate: what `decide` needs, parsed once and cached by the edges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    subject: DistinguishedName,
    issuer: DistinguishedName,
    subject_text: String,
    issuer_text: String,
    serial: Vec<u8>,
    not_before: i64,
    not_after: i64,
    sha256: [u8; 32],
    san: SubjectAltNames,
    spiffe_id: Option<String>,
    extended_key_usage: Vec<String>,
    der: Vec<u8>,
}

/// `id-kp-clientAuth`.
pub const OID_CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";

/// Parses the leaf certificate out of PEM (the first CERTIFICATE block; text around it is ignored),
/// URL-encoded PEM (as in Envoy's XFCC `Cert=`), or DER.
pub fn parse(input: &[u8]) -> Result<Identity, CertError> {
    if input.is_empty() {
        return Err(CertError::Empty);
    }
    if input.len() > MAX_INPUT_BYTES {
        return Err(CertError::TooLarge(input.len()));
    }
    let der = if let Some(block) = first_pem_block(input) {
        pem_to_der(input, block)?
    } else if input[0] == 0x30 {
        input.to_vec()
    } else if input.contains(&b'%') {
        let decoded = percent_decode_strict(input)?;
        let block = first_pem_block(&decoded).ok_or(CertError::UnrecognizedFormat)?;
        pem_to_der(&decoded, block)?
    } else {
        return Err(CertError::UnrecognizedFormat);
    };
    Identity::from_der(der)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// Where the first certificate block's body starts, and its END line: the first `-----BEGIN `
/// line whose label is one of [`PEM_LABELS`] (other blocks, such as a key, are skipped).
fn first_pem_block(input: &[u8]) -> Option<(usize, &'static [u8])> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut from = 0;
    while let Some(at) = find(&input[from..], BEGIN).map(|i| from + i) {
        let rest = &input[at..];
        if let Some((begin, end)) = PEM_LABELS.iter().find(|(begin, _)| rest.starts_with(begin)) {
            return Some((at + begin.len(), *end));
        }
        from = at + BEGIN.len();
    }
    None
}

fn pem_to_der(input: &[u8], (begin, end_line): (usize, &[u8])) -> Result<Vec<u8>, CertError> {
    let length = find(&input[begin..], end_line).ok_or(CertError::UnterminatedPem)?;
    let armoured = &input[begin..begin + length];
    let decode = |body: &[u8]| base64::engine::general_purpose::STANDARD.decode(body);
    // PEM puts whitespace only at the ends of its lines: copy each line without it and decode. A
    // body with whitespace inside a line fails that decoding (whitespace is not base64) and is
    // decoded again with every whitespace byte removed, so both ways give the same result.
    let mut body = Vec::with_capacity(armoured.len());
    let mut line_start = 0;
    for line_end in memchr::memchr_iter(b'\n', armoured).chain([armoured.len()]) {
        body.extend_from_slice(armoured[line_start..line_end].trim_ascii());
        line_start = line_end + 1;
    }
    decode(&body)
        .or_else(|_| {
            body.clear();
            body.extend(armoured.iter().copied().filter(|b| !b.is_ascii_whitespace()));
            decode(&body)
        })
        .map_err(|_| CertError::InvalidBase64)
}

/// Percent-decoding that rejects a `%` not followed by two hex digits (a lenient decoder would
/// keep it, and guess).
fn percent_decode_strict(input: &[u8]) -> Result<Vec<u8>, CertError> {
    let mut rest = input;
    while let Some(i) = rest.iter().position(|&b| b == b'%') {
        let valid = rest.get(i + 1..i + 3).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit));
        if !valid {
            return Err(CertError::InvalidPercentEscape);
        }
        rest = &rest[i + 3..];
    }
    Ok(percent_encoding::percent_decode(input).collect())
}

/// Why a name could not be decoded: the string type that was invalid, or "OID".
pub(crate) fn decode_name(name: &X509Name<'_>) -> Result<DistinguishedName, &'static str> {
    let mut rdns = Vec::new();
    for rdn in name.iter() {
        let mut attributes = Vec::new();
        for attribute in rdn.iter() {
            let any = attribute.attr_value();
            let value = match decode_string(any.header.tag().0, any.data) {
                Ok(Some(text)) => AttributeValue::Text(text),
                Ok(None) => AttributeValue::Der(full_der(any)),
                Err(invalid) => return Err(invalid.string_type),
            };
            attributes.push(Attribute { oid: oid_text(attribute.attr_type()).ok_or("OID")?, value });
        }
        rdns.push(attributes);
    }
    Ok(DistinguishedName::new(rdns))
}

/// The dotted text of an OID (asn1-rs's own rendering mangles arcs ≥ 40 under 2 and arcs over 64 bits).
pub(crate) fn oid_text(oid: &x509_parser::der_parser::oid::Oid<'_>) -> Option<String> {
    crate::dn::dotted_oid(oid.as_bytes())
}

/// The complete DER (tag, length, content) of a value that x509-parser hands over as header + data.
fn full_der(any: &x509_parser::der_parser::asn1_rs::Any<'_>) -> Vec<u8> {
    let mut der = Vec::with_capacity(any.data.len() + 6);
    let header = &any.header;
    let class = (header.class() as u8) << 6;
    let constructed = if header.is_constructed() { 0x20 } else { 0 };
    let tag = header.tag().0;
    if tag < 31 {
        der.push(class | constructed | tag as u8);
    } else {
        der.push(class | constructed | 0x1f);
        let mut groups = Vec::new();
        let mut t = tag;
        loop {
            groups.push((t & 0x7f) as u8);
            t >>= 7;
            if t == 0 {
                break;
            }
        }
        for (i, group) in groups.iter().enumerate().rev() {
            der.push(if i > 0 { group | 0x80 } else { *group });
        }
    }
    let len = any.data.len();
    if len < 0x80 {
        der.push(len as u8);
    } else {
        let octets: Vec<u8> = len.to_be_bytes().iter().copied().skip_while(|&b| b == 0).collect();
        der.push(0x80 | octets.len() as u8);
        der.extend_from_slice(&octets);
    }
    der.extend_from_slice(any.data);
    der
}

impl Identity {
    fn from_der(der: Vec<u8>) -> Result<Identity, CertError> {
        // Only the two extensions certprop reads are parsed (below): x509-parser's own parse of
        // every extension it knows would cost each certificate time, and the filter code, for
        // values nothing here uses. A malformed extension of another type is not an error either
        // way: x509-parser keeps it as a parse error and goes on.
        let (rest, cert) = X509CertificateParser::new()
            .with_deep_parse_extensions(false)
            .parse(&der)
            .map_err(|e| CertError::InvalidDer(short_error(&e)))?;
        if !rest.is_empty() {
            return Err(CertError::TrailingData(rest.len()));
        }
        if cert.version().0 > 2 {
            return Err(CertError::UnsupportedVersion(cert.version().0));
        }
        let subject = decode_name(cert.subject())
            .map_err(|string_type| CertError::InvalidAttributeValue { name: "subject", string_type })?;
        let issuer = decode_name(cert.issuer())
            .map_err(|string_type| CertError::InvalidAttributeValue { name: "issuer", string_type })?;

        let mut san = SubjectAltNames::default();
        let san_extension = extension(&cert, &OID_X509_EXT_SUBJECT_ALT_NAME, "subject alternative name", |der| {
            SubjectAlternativeName::from_der(der)
        })?;
        for name in san_extension.iter().flat_map(|ext| &ext.general_names) {
            san.push(name).map_err(|bad| CertError::InvalidSubjectAltName(bad.0))?;
        }
        let spiffe_id = match san.uri.as_slice() {
            [only] if only.starts_with("spiffe://") => Some(only.clone()),
            _ => None,
        };
        let extended_key_usage =
            match extension(&cert, &OID_X509_EXT_EXTENDED_KEY_USAGE, "extended key usage", ExtendedKeyUsage::from_der)? {
                Some(eku) => eku_oids(&eku)?,
                None => Vec::new(),
            };

        let validity = cert.validity();
        let (not_before, not_after) = (validity.not_before.timestamp(), validity.not_after.timestamp());
        if !crate::rfc3339::representable(not_before) || !crate::rfc3339::representable(not_after) {
            return Err(CertError::InvalidValidity);
        }
        let serial = positive_serial(cert.raw_serial()).to_vec();
        let sha256 = Sha256::digest(&der).into();
        drop(cert);

        Ok(Identity {
            subject_text: subject.to_rfc4514(),
            issuer_text: issuer.to_rfc4514(),
            subject,
            issuer,
            serial,
            not_before,
            not_after,
            sha256,
            san,
            spiffe_id,
            extended_key_usage,
            der,
        })
    }

    /// The subject, parsed.
    pub fn subject(&self) -> &DistinguishedName {
        &self.subject
    }

    /// The issuer, parsed.
    pub fn issuer(&self) -> &DistinguishedName {
        &self.issuer
    }

    /// The subject as an RFC 4514 string.
    pub fn subject_rfc4514(&self) -> &str {
        &self.subject_text
    }

    /// The issuer as an RFC 4514 string.
    pub fn issuer_rfc4514(&self) -> &str {
        &self.issuer_text
    }

    /// The serial number's DER content octets without the sign-padding `00`.
    pub fn serial(&self) -> &[u8] {
        &self.serial
    }

    /// The serial number as lowercase hex.
    pub fn serial_hex(&self) -> String {
        hex(&self.serial)
    }

    /// Start of the validity period, in seconds since the Unix epoch.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    /// End of the validity period, in seconds since the Unix epoch.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// SHA-256 of the certificate's DER.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }

    /// SHA-256 of the certificate's DER as lowercase hex.
    pub fn sha256_hex(&self) -> String {
        hex(&self.sha256)
    }

    /// The subject alternative names.
    pub fn san(&self) -> &SubjectAltNames {
        &self.san
    }

    /// The SPIFFE ID: the URI SAN when it is the only one and starts with `spiffe://`.
    pub fn spiffe_id(&self) -> Option<&str> {
        self.spiffe_id.as_deref()
    }

    /// The extended key usages as dotted OIDs (empty when the extension is absent).
    pub fn extended_key_usage(&self) -> &[String] {
        &self.extended_key_usage
    }

    /// The certificate's DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The PEM text of the certificate (64-column base64, trailing newline).
    pub fn pem(&self) -> String {
        let body = base64::engine::general_purpose::STANDARD.encode(&self.der);
        let mut pem = String::with_capacity(body.len() + body.len() / 64 + 60);
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        pem
    }

    /// The `certprop inspect` object; serialize it with serde_json.
    pub fn inspect(&self) -> Inspect<'_> {
        let time = |t| crate::rfc3339::format(t).unwrap_or_default();
        Inspect {
            subject: &self.subject_text,
            issuer: &self.issuer_text,
            serial: self.serial_hex(),
            not_before: time(self.not_before),
            not_after: time(self.not_after),
            sha256: self.sha256_hex(),
            san: InspectSan {
                dns: &self.san.dns,
                uri: &self.san.uri,
                email: &self.san.email,
                ip: self.san.ip.iter().map(IpAddr::to_string).collect(),
            },
            spiffe_id: self.spiffe_id.as_deref(),
        }
    }

    /// The `certprop inspect` object as compact JSON.
    pub fn inspect_json(&self) -> String {
        serde_json::to_string(&self.inspect()).unwrap_or_default()
    }
}

/// The identity as `certprop inspect` prints it (field order as pinned in the design).
#[derive(Debug, serde::Serialize)]
pub struct Inspect<'a> {
    /// RFC 4514 subject.
    pub subject: &'a str,
    /// RFC 4514 issuer.
    pub issuer: &'a str,
    /// Lowercase hex serial.
    pub serial: String,
    /// RFC 3339 UTC.
    pub not_before: String,
    /// RFC 3339 UTC.
    pub not_after: String,
    /// Lowercase hex SHA-256 of the DER.
    pub sha256: String,
    /// Typed SANs.
    pub san: InspectSan<'a>,
    /// SPIFFE ID or null.
    pub spiffe_id: Option<&'a str>,
}

/// The `san` member of [`Inspect`].
#[derive(Debug, serde::Serialize)]
pub struct InspectSan<'a> {
    /// DNS names.
    pub dns: &'a [String],
    /// URIs.
    pub uri: &'a [String],
    /// Email addresses.
    pub email: &'a [String],
    /// IPv4 dotted and IPv6 RFC 5952.
    pub ip: Vec<String>,
}

/// The extension `oid` parsed with `parse`, `None` when the certificate has none. Present twice,
/// or not what `parse` reads, it is [`CertError::InvalidExtension`] (`name`).
fn extension<'a, T>(
    cert: &X509Certificate<'a>,
    oid: &Oid<'_>,
    name: &'static str,
    parse: impl FnOnce(&'a [u8]) -> X509Result<'a, T>,
) -> Result<Option<T>, CertError> {
    match cert.get_extension_unique(oid).map_err(|_| CertError::InvalidExtension(name))? {
        None => Ok(None),
        Some(found) => parse(found.value).map(|(_, value)| Some(value)).map_err(|_| CertError::InvalidExtension(name)),
    }
}

fn eku_oids(eku: &x509_parser::extensions::ExtendedKeyUsage<'_>) -> Result<Vec<String>, CertError> {
    let known = [
        (eku.any, "2.5.29.37.0"),
        (eku.server_auth, "1.3.6.1.5.5.7.3.1"),
        (eku.client_auth, OID_CLIENT_AUTH),
        (eku.code_signing, "1.3.6.1.5.5.7.3.3"),
        (eku.email_protection, "1.3.6.1.5.5.7.3.4"),
        (eku.time_stamping, "1.3.6.1.5.5.7.3.8"),
        (eku.ocsp_signing, "1.3.6.1.5.5.7.3.9"),
    ];
    known
        .iter()
        .filter(|(present, _)| *present)
        .map(|(_, oid)| Ok((*oid).to_owned()))
        .chain(eku.other.iter().map(|oid| oid_text(oid).ok_or(CertError::InvalidExtension("extended key usage"))))
        .collect()
}

/// Drops the single `00` that DER puts before a positive number whose top bit is set.
fn positive_serial(content: &[u8]) -> &[u8] {
    match content {
        [0, next, ..] if *next >= 0x80 => &content[1..],
        _ => content,
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    crate::dn::push_hex(bytes, &mut out);
    out
}

/// x509-parser's errors print nom internals; keep the first line, shortened.
fn short_error(error: &impl std::fmt::Display) -> String {
    let text = error.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT_PEM: &[u8] = include_bytes!("../../certs/client.pem");

    #[test]
    fn parses_the_client_certificate() {
        let id = parse(CLIENT_PEM).unwrap();
        assert_eq!(id.subject_rfc4514(), r"CN=client-a,OU=Payments,O=Acme\, Inc.,C=US");
        assert_eq!(id.issuer_rfc4514(), "CN=certprop Test CA,O=certprop");
        assert_eq!(id.san().dns, ["client-a.example.org"]);
        assert_eq!(id.san().email, ["client-a@example.org"]);
        assert_eq!(id.san().ip.iter().map(ToString::to_string).collect::<Vec<_>>(), ["10.1.2.3", "2001:db8::1"]);
        assert_eq!(id.spiffe_id(), None);
        assert!(id.extended_key_usage().iter().any(|oid| oid == OID_CLIENT_AUTH));
        assert_eq!(crate::rfc3339::format(id.not_before()).unwrap(), "2025-01-01T00:00:00Z");
        assert_eq!(hex(&Sha256::digest(id.der())), id.sha256_hex());
    }

    #[test]
    fn pem_der_and_url_encoded_pem_give_the_same_identity() {
        let id = parse(CLIENT_PEM).unwrap();
        assert_eq!(parse(id.der()).unwrap(), id);
        let everything_escaped = percent_encoding::percent_encode(id.pem().as_bytes(), percent_encoding::NON_ALPHANUMERIC).to_string();
        assert_eq!(parse(everything_escaped.as_bytes()).unwrap(), id);
        assert_eq!(parse(include_bytes!("../../certs/client.urlenc")).unwrap(), id);
        assert_eq!(parse(id.pem().as_bytes()).unwrap(), id);
    }

    #[test]
    fn takes_the_leaf_of_a_chain_and_ignores_text_around_it() {
        let chain = include_bytes!("../../certs/chain.pem");
        assert_eq!(parse(chain).unwrap(), parse(CLIENT_PEM).unwrap());
        let mut noisy = b"subject=whatever\n\x00\xff junk\n".to_vec();
        noisy.extend_from_slice(CLIENT_PEM);
        noisy.extend_from_slice(b"trailing junk");
        assert_eq!(parse(&noisy).unwrap(), parse(CLIENT_PEM).unwrap());
    }

    #[test]
    fn rejects_bad_input_with_a_clean_error() {
        let id = parse(CLIENT_PEM).unwrap();
        assert_eq!(parse(b""), Err(CertError::Empty));
        assert_eq!(parse(b"hello"), Err(CertError::UnrecognizedFormat));
        assert_eq!(parse(b"-----BEGIN CERTIFICATE-----\nAAAA"), Err(CertError::UnterminatedPem));
        assert_eq!(parse(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"), Err(CertError::InvalidBase64));
        assert_eq!(parse(b"-----BEGIN%20CERTIFICATE-----%ZZ"), Err(CertError::InvalidPercentEscape));
        assert_eq!(parse(b"-----BEGIN%20CERTIFICATE-----%4"), Err(CertError::InvalidPercentEscape));
        assert_eq!(parse(b"%41%42"), Err(CertError::UnrecognizedFormat));
        assert!(matches!(parse(&id.der()[..id.der().len() - 1]), Err(CertError::InvalidDer(_))));
        let mut trailing = id.der().to_vec();
        trailing.push(0);
        assert_eq!(parse(&trailing), Err(CertError::TrailingData(1)));
        assert_eq!(parse(&vec![0x30; MAX_INPUT_BYTES + 1]), Err(CertError::TooLarge(MAX_INPUT_BYTES + 1)));
        let legacy = id.pem().replace("BEGIN CERTIFICATE", "BEGIN X509 CERTIFICATE").replace("END CERTIFICATE", "END X509 CERTIFICATE");
        assert_eq!(parse(legacy.as_bytes()).unwrap(), id);
        let mixed = id.pem().replace("END CERTIFICATE", "END X509 CERTIFICATE");
        assert_eq!(parse(mixed.as_bytes()), Err(CertError::UnterminatedPem));
        let after_a_key = format!("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n{}", id.pem());
        assert_eq!(parse(after_a_key.as_bytes()).unwrap(), id);
        let garbage = include_bytes!("../../certs/garbage.pem");
        assert!(matches!(parse(garbage), Err(CertError::InvalidDer(_))));
    }

    #[test]
    fn truncated_der_never_panics() {
        let id = parse(CLIENT_PEM).unwrap();
        for len in 0..id.der().len() {
            assert!(parse(&id.der()[..len]).is_err());
        }
    }

    #[test]
    fn spiffe_svid_has_an_empty_subject_and_an_id() {
        let id = parse(include_bytes!("../../certs/spiffe.pem")).unwrap();
        assert_eq!(id.subject_rfc4514(), "");
        assert!(id.subject().is_empty());
        assert_eq!(id.spiffe_id(), Some("spiffe://example.org/ns/default/sa/client"));
    }

    #[test]
    fn hostile_subject_renders_escaped() {
        let id = parse(include_bytes!("../../certs/hostile-crlf.pem")).unwrap();
        assert!(id.subject_rfc4514().contains(r"evil\0D\0AX-Injected: yes"), "{}", id.subject_rfc4514());
        assert!(!id.subject_rfc4514().contains(['\r', '\n', '\0']));
        assert!(!id.subject().to_node_text().contains(['\r', '\n', '\0']));
    }

    #[test]
    fn serial_drops_only_the_sign_pad() {
        assert_eq!(positive_serial(&[0x00, 0x80, 0x01]), &[0x80, 0x01]);
        assert_eq!(positive_serial(&[0x00, 0x01]), &[0x00, 0x01]);
        assert_eq!(positive_serial(&[0x00]), &[0x00]);
        assert_eq!(positive_serial(&[0xff, 0x01]), &[0xff, 0x01]);
    }

    #[test]
    fn inspect_json_has_the_pinned_shape() {
        let json = parse(CLIENT_PEM).unwrap().inspect_json();
        let order = ["\"subject\":", "\"issuer\":", "\"serial\":", "\"not_before\":", "\"not_after\":", "\"sha256\":", "\"san\":{\"dns\":", "\"uri\":", "\"email\":", "\"ip\":", "\"spiffe_id\":null}"];
        let positions: Vec<usize> = order.iter().map(|key| json.find(key).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{json}");
    }
}
