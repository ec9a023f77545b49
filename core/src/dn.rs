//! Distinguished names: decoded attribute values, RFC 4514 text in both directions,
//! Node's `X509Certificate.subject` text, and pattern matching for policy rules.
//!
//! A [`DistinguishedName`] keeps the RDNs in certificate order. RFC 4514 text reverses them
//! (most specific first); Node's text keeps certificate order.

use std::fmt::Write as _;

/// Object identifiers of the attribute types that have RFC 4514 keywords (RFC 4514 §3).
const RFC4514_KEYWORDS: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("C", "2.5.4.6"),
    ("STREET", "2.5.4.9"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
];

/// OpenSSL's short names, which Node prints (`XN_FLAG_FN_SN`); also accepted as keywords in
/// patterns and `attr:` header values.
const OPENSSL_SHORT_NAMES: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("SN", "2.5.4.4"),
    ("serialNumber", "2.5.4.5"),
    ("C", "2.5.4.6"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("street", "2.5.4.9"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("title", "2.5.4.12"),
    ("description", "2.5.4.13"),
    ("businessCategory", "2.5.4.15"),
    ("postalAddress", "2.5.4.16"),
    ("postalCode", "2.5.4.17"),
    ("postOfficeBox", "2.5.4.18"),
    ("name", "2.5.4.41"),
    ("GN", "2.5.4.42"),
    ("initials", "2.5.4.43"),
    ("generationQualifier", "2.5.4.44"),
    ("x500UniqueIdentifier", "2.5.4.45"),
    ("dnQualifier", "2.5.4.46"),
    ("pseudonym", "2.5.4.65"),
    ("role", "2.5.4.72"),
    ("organizationIdentifier", "2.5.4.97"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
    ("emailAddress", "1.2.840.113549.1.9.1"),
    ("jurisdictionL", "1.3.6.1.4.1.311.60.2.1.1"),
    ("jurisdictionST", "1.3.6.1.4.1.311.60.2.1.2"),
    ("jurisdictionC", "1.3.6.1.4.1.311.60.2.1.3"),
    ("OGRN", "1.2.643.100.1"),
    ("SNILS", "1.2.643.100.3"),
    ("OGRNIP", "1.2.643.100.5"),
    ("INN", "1.2.643.3.131.1.1"),
    ("INNLE", "1.2.643.100.4"),
    ("unstructuredName", "1.2.840.113549.1.9.2"),
    ("unstructuredAddress", "1.2.840.113549.1.9.8"),
];

/// The dotted OID for an attribute keyword (RFC 4514 keywords and OpenSSL short names,
/// case-insensitive), or the text itself when it already is a dotted OID.
pub fn attribute_oid(keyword_or_oid: &str) -> Option<String> {
    if is_dotted_oid(keyword_or_oid) {
        return Some(keyword_or_oid.to_owned());
    }
    RFC4514_KEYWORDS
        .iter()
        .chain(OPENSSL_SHORT_NAMES)
        .find(|(name, _)| name.eq_ignore_ascii_case(keyword_or_oid))
        .map(|(_, oid)| (*oid).to_owned())
}

fn is_dotted_oid(text: &str) -> bool {
    let mut arcs = 0;
    for arc in text.split('.') {
        let digits_only = !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit());
        if !digits_only || (arc.len() > 1 && arc.starts_with('0')) {
            return false;
        }
        arcs += 1;
    }
    arcs >= 2
}

/// The dotted text of an OID's DER content octets, with arcs of any size; `None` when the
/// encoding is malformed (empty, truncated, or a sub-identifier with a leading 0x80).
pub(crate) fn dotted_oid(content: &[u8]) -> Option<String> {
    dotted_oid_u64(content).or_else(|| dotted_oid_big(content))
}

/// [`dotted_oid`] for the OIDs whose arcs all fit in 64 bits (every OID a real certificate uses),
/// without a number of unbounded size: `None` for an arc that does not fit, or invalid content.
fn dotted_oid_u64(content: &[u8]) -> Option<String> {
    let mut text = String::with_capacity(3 * content.len() + 2);
    let mut arc: u64 = 0;
    let mut inside_arc = false;
    let mut first = true;
    for &byte in content {
        if (!inside_arc && byte == 0x80) || arc >> 57 != 0 {
            return None;
        }
        arc = arc << 7 | u64::from(byte & 0x7f);
        inside_arc = byte & 0x80 != 0;
        if !inside_arc {
            if first {
                // The first sub-identifier holds two arcs: 40 * first + second, first is 0, 1 or 2.
                let top = (arc / 40).min(2);
                push_u64(top, &mut text);
                text.push('.');
                push_u64(arc - 40 * top, &mut text);
                first = false;
            } else {
                text.push('.');
                push_u64(arc, &mut text);
            }
            arc = 0;
        }
    }
    (!inside_arc && !first).then_some(text)
}

/// Decimal digits of `n`, without the formatting machinery (OIDs are read for every attribute).
fn push_u64(mut n: u64, out: &mut String) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

/// [`dotted_oid`] with arcs of any size.
fn dotted_oid_big(content: &[u8]) -> Option<String> {
    // Each arc is a big number in base 10^9 limbs, least significant first.
    let mut arcs: Vec<Vec<u32>> = Vec::new();
    let mut arc: Vec<u32> = vec![0];
    let mut inside_arc = false;
    for &byte in content {
        if !inside_arc && byte == 0x80 {
            return None;
        }
        mul_add(&mut arc, 128, u32::from(byte & 0x7f));
        inside_arc = byte & 0x80 != 0;
        if !inside_arc {
            arcs.push(std::mem::replace(&mut arc, vec![0]));
        }
    }
    if inside_arc || arcs.is_empty() {
        return None;
    }
    // The first sub-identifier holds two arcs: 40 * first + second, where first is 0, 1 or 2.
    let first_two = &mut arcs[0];
    let small = if first_two.len() == 1 { Some(first_two[0]) } else { None };
    let first = match small {
        Some(v) if v < 40 => 0,
        Some(v) if v < 80 => 1,
        _ => 2,
    };
    sub_small(first_two, first * 40);
    let mut text = first.to_string();
    for arc in &arcs {
        text.push('.');
        push_decimal(arc, &mut text);
    }
    Some(text)
}

const LIMB: u64 = 1_000_000_000;

fn mul_add(limbs: &mut Vec<u32>, multiplier: u32, addend: u32) {
    let mut carry = u64::from(addend);
    for limb in limbs.iter_mut() {
        let v = u64::from(*limb) * u64::from(multiplier) + carry;
        *limb = (v % LIMB) as u32;
        carry = v / LIMB;
    }
    if carry > 0 {
        limbs.push(carry as u32);
    }
}

/// Subtracts `value` (at most 80) from a number that is at least that large.
fn sub_small(limbs: &mut Vec<u32>, value: u32) {
    let mut borrow = value;
    for limb in limbs.iter_mut() {
        if *limb >= borrow {
            *limb -= borrow;
            break;
        }
        *limb = (u64::from(*limb) + LIMB - u64::from(borrow)) as u32;
        borrow = 1;
    }
    while limbs.len() > 1 && limbs.last() == Some(&0) {
        limbs.pop();
    }
}

fn push_decimal(limbs: &[u32], out: &mut String) {
    let mut iter = limbs.iter().rev();
    if let Some(top) = iter.next() {
        let _ = write!(out, "{top}");
    }
    for limb in iter {
        let _ = write!(out, "{limb:09}");
    }
}

/// The value of one attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttributeValue {
    /// A string type (UTF8, Printable, IA5, BMP, Universal, T61, …) decoded to UTF-8.
    Text(String),
    /// A value of a non-string ASN.1 type, kept as its complete DER encoding (tag, length, content).
    Der(Vec<u8>),
}

/// One attribute: its type as a dotted OID and its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute type, as a dotted OID (`2.5.4.3` for CN).
    pub oid: String,
    /// The decoded value.
    pub value: AttributeValue,
}

/// A relative distinguished name: one or more attributes (more than one = multi-valued).
pub type Rdn = Vec<Attribute>;

/// A distinguished name as a sequence of RDNs in certificate order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DistinguishedName {
    rdns: Vec<Rdn>,
}

/// Why an attribute value could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidString {
    /// The ASN.1 string type, as its name (`BMPString`).
    pub string_type: &'static str,
}

// Universal tags of the ASN.1 string types.
const TAG_UTF8: u32 = 12;
const TAG_NUMERIC: u32 = 18;
const TAG_PRINTABLE: u32 = 19;
const TAG_T61: u32 = 20;
const TAG_VIDEOTEX: u32 = 21;
const TAG_IA5: u32 = 22;
const TAG_GRAPHIC: u32 = 25;
const TAG_VISIBLE: u32 = 26;
const TAG_GENERAL: u32 = 27;
const TAG_UNIVERSAL: u32 = 28;
const TAG_BMP: u32 = 30;

/// Decodes the content octets of a universal string type to UTF-8. `Ok(None)` means the tag is not
/// a string type. UTF8String and the ASCII-based types must be valid UTF-8; BMPString is UTF-16BE
/// and UniversalString UTF-32BE, both strict; T61String and VideotexString are read as ISO 8859-1,
/// as OpenSSL does.
pub(crate) fn decode_string(tag: u32, content: &[u8]) -> Result<Option<String>, InvalidString> {
    let invalid = |string_type| InvalidString { string_type };
    let text = match tag {
        TAG_UTF8 => utf8(content).ok_or(invalid("UTF8String"))?,
        TAG_NUMERIC | TAG_PRINTABLE | TAG_IA5 | TAG_VISIBLE | TAG_GRAPHIC | TAG_GENERAL => {
            utf8(content).ok_or(invalid(string_type_name(tag)))?
        }
        TAG_T61 | TAG_VIDEOTEX => content.iter().map(|&b| char::from(b)).collect(),
        TAG_BMP => {
            if content.len() % 2 != 0 {
                return Err(invalid("BMPString"));
            }
            let units = content.chunks_exact(2).map(|u| u16::from_be_bytes([u[0], u[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .map_err(|_| invalid("BMPString"))?
        }
        TAG_UNIVERSAL => {
            if content.len() % 4 != 0 {
                return Err(invalid("UniversalString"));
            }
            content
                .chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect::<Option<String>>()
                .ok_or(invalid("UniversalString"))?
        }
        _ => return Ok(None),
    };
    Ok(Some(text))
}

fn utf8(content: &[u8]) -> Option<String> {
    std::str::from_utf8(content).ok().map(str::to_owned)
}

fn string_type_name(tag: u32) -> &'static str {
    match tag {
        TAG_NUMERIC => "NumericString",
        TAG_PRINTABLE => "PrintableString",
        TAG_IA5 => "IA5String",
        TAG_VISIBLE => "VisibleString",
        TAG_GRAPHIC => "GraphicString",
        _ => "GeneralString",
    }
}

impl DistinguishedName {
    /// Builds a name from RDNs in certificate order.
    pub fn new(rdns: Vec<Rdn>) -> Self {
        DistinguishedName { rdns }
    }

    /// The RDNs in certificate order (least specific first).
    pub fn rdns(&self) -> &[Rdn] {
        &self.rdns
    }

    /// Every attribute in certificate order.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.rdns.iter().flatten()
    }

    /// True when the name has no RDN.
    pub fn is_empty(&self) -> bool {
        self.rdns.is_empty()
    }

    /// The RFC 4514 string: RDNs reversed, `+` inside multi-valued RDNs, keywords for the nine
    /// RFC 4514 attribute types and dotted OIDs otherwise, values escaped by [`escape_value`],
    /// non-string values as `#` and the hex of their DER.
    pub fn to_rfc4514(&self) -> String {
        let mut out = String::with_capacity(self.text_len_hint());
        for (i, rdn) in self.rdns.iter().rev().enumerate() {
            if i > 0 {
                out.push(',');
            }
            for (j, attribute) in rdn.iter().enumerate() {
                if j > 0 {
                    out.push('+');
                }
                out.push_str(rfc4514_keyword(&attribute.oid).unwrap_or(&attribute.oid));
                out.push('=');
                match &attribute.value {
                    AttributeValue::Text(text) => escape_value_into(text, &mut out),
                    AttributeValue::Der(der) => {
                        out.push('#');
                        push_hex(der, &mut out);
                    }
                }
            }
        }
        out
    }

    /// About how long [`Self::to_rfc4514`] is, to allocate its string once: each attribute's
    /// type and value and a separator (escapes make it a little longer, keywords shorter).
    fn text_len_hint(&self) -> usize {
        self.attributes()
            .map(|attribute| {
                let value = match &attribute.value {
                    AttributeValue::Text(text) => text.len(),
                    AttributeValue::Der(der) => 1 + 2 * der.len(),
                };
                attribute.oid.len() + value + 2
            })
            .sum()
    }

    /// Node's `X509Certificate.subject` (OpenSSL `X509_NAME_print_ex` with RFC 2253 escaping,
    /// control characters as `\XX`, UTF-8 output, short names, one RDN per line) with each line
    /// break replaced by a comma: the text the AWS sample authorizer puts in `X-Client-Cert-Sub`.
    pub fn to_node_text(&self) -> String {
        let mut out = String::with_capacity(self.text_len_hint());
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            for (j, attribute) in rdn.iter().enumerate() {
                if j > 0 {
                    out.push_str(" + ");
                }
                out.push_str(openssl_short_name(&attribute.oid).unwrap_or(&attribute.oid));
                out.push('=');
                match &attribute.value {
                    AttributeValue::Text(text) => node_escape_into(text, &mut out),
                    // OpenSSL prints the content octets of an unknown type one byte per character
                    // (a BIT STRING without its unused-bits octet, as OpenSSL stores it).
                    AttributeValue::Der(der) => {
                        let content = match der.first() {
                            Some(0x03) => der_content(der).get(1..).unwrap_or_default(),
                            _ => der_content(der),
                        };
                        let latin1: String = content.iter().map(|&b| char::from(b)).collect();
                        node_escape_into(&latin1, &mut out);
                    }
                }
            }
        }
        out
    }

    /// Parses an RFC 4514 string (keywords of RFC 4514 and OpenSSL short names, any case, or
    /// dotted OIDs; `#hex` values are kept as DER). The inverse of [`Self::to_rfc4514`].
    pub fn parse_rfc4514(text: &str) -> Result<Self, Rfc4514Error> {
        let pattern = parse_pattern(text)?;
        let rdns = pattern
            .rdns
            .into_iter()
            .map(|rdn| {
                rdn.into_iter()
                    .map(|(oid, value)| Attribute { oid, value: value.into_value() })
                    .collect()
            })
            .collect();
        Ok(DistinguishedName { rdns })
    }
}

fn rfc4514_keyword(oid: &str) -> Option<&'static str> {
    RFC4514_KEYWORDS.iter().find(|(_, o)| *o == oid).map(|(name, _)| *name)
}

fn openssl_short_name(oid: &str) -> Option<&'static str> {
    OPENSSL_SHORT_NAMES.iter().find(|(_, o)| *o == oid).map(|(name, _)| *name)
}

/// The content octets of a DER TLV (everything after the tag and length).
fn der_content(der: &[u8]) -> &[u8] {
    let Some(&first_length_byte) = der.get(1) else { return &[] };
    let header_len = if first_length_byte < 0x80 {
        2
    } else {
        2 + usize::from(first_length_byte & 0x7f)
    };
    der.get(header_len..).unwrap_or(&[])
}

pub(crate) fn push_hex(bytes: &[u8], out: &mut String) {
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

/// Escapes one attribute value for RFC 4514: `\` before `\ " + , ; < >`, before a leading `#`
/// or space and a trailing space, and every control character as `\XX` per UTF-8 octet.
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    escape_value_into(value, &mut out);
    out
}

/// Where the two escapings of attribute values differ.
#[derive(Clone, Copy)]
enum Escaping {
    /// RFC 4514 ([`escape_value`]): a leading `#` always, and every control character (C0, DEL
    /// and the C1 controls U+0080 to U+009F) as `\XX` per UTF-8 octet.
    Rfc4514,
    /// OpenSSL's `ASN1_STRFLGS_ESC_2253 | ASN1_STRFLGS_ESC_CTRL`, as Node prints it: a leading `#`
    /// only when it is not also the last character, ASCII control bytes as `\XX`, everything at
    /// or above 0x80 as raw UTF-8.
    OpenSsl,
}

fn escape_value_into(value: &str, out: &mut String) {
    escape_into(value, Escaping::Rfc4514, out);
}

fn node_escape_into(value: &str, out: &mut String) {
    escape_into(value, Escaping::OpenSsl, out);
}

const PLAIN: u8 = 0;
const SPECIAL: u8 = 1;
const HASH: u8 = 2;
const SPACE: u8 = 3;
const CONTROL: u8 = 4;
const C1_LEAD: u8 = 5;

/// The class of each byte for [`escape_into`]: the RFC 2253 specials, `#` and space (escaped by
/// position), the ASCII controls, and `C2`, the lead byte of the C1 controls.
const ESCAPE_CLASS: [u8; 256] = {
    let mut class = [PLAIN; 256];
    let mut b = 0;
    while b < 0x20 {
        class[b] = CONTROL;
        b += 1;
    }
    class[0x7f] = CONTROL;
    let specials = *b"\\\"+,;<>";
    let mut i = 0;
    while i < specials.len() {
        class[specials[i] as usize] = SPECIAL;
        i += 1;
    }
    class[b'#' as usize] = HASH;
    class[b' ' as usize] = SPACE;
    class[0xc2] = C1_LEAD;
    class
};

/// Both escapings share the RFC 2253 specials `\ " + , ; < >` and a backslash before a leading
/// or trailing space.
fn escape_into(value: &str, escaping: Escaping, out: &mut String) {
    let bytes = value.as_bytes();
    out.reserve(bytes.len());
    let rfc4514 = matches!(escaping, Escaping::Rfc4514);
    // A byte-level scan: every character to escape is ASCII but the C1 controls (`C2 80` to
    // `C2 9F` in UTF-8), and the bytes between escapes are copied a run at a time. A run starts
    // and ends at character boundaries: after an escaped character, and at an ASCII byte or a C1
    // control's lead byte.
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // One table load per byte: most bytes are in no class, and a match on the byte itself
        // compiles to a jump table that the CPU mispredicts.
        let class = ESCAPE_CLASS[usize::from(b)];
        if class == PLAIN {
            continue;
        }
        let last = i + 1 == bytes.len();
        let octets = match class {
            SPECIAL => 0,
            HASH if i == 0 && (rfc4514 || !last) => 0,
            SPACE if i == 0 || last => 0,
            CONTROL => 1,
            C1_LEAD if rfc4514 && matches!(bytes.get(i + 1), Some(0x80..=0x9f)) => 2,
            _ => continue,
        };
        out.push_str(&value[run_start..i]);
        if octets == 0 {
            out.push('\\');
            out.push(char::from(b));
            run_start = i + 1;
        } else {
            for octet in &bytes[i..i + octets] {
                let _ = write!(out, "\\{octet:02X}");
            }
            run_start = i + octets;
        }
    }
    out.push_str(&value[run_start..]);
}

/// Why an RFC 4514 string could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} at byte {position}")]
pub struct Rfc4514Error {
    /// What was wrong.
    pub message: &'static str,
    /// Byte offset in the input.
    pub position: usize,
}

/// One character of a pattern value: a literal, or a `*` wildcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatternChar {
    Literal(char),
    Wildcard,
}

/// The value part of one attribute in a DN pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PatternValue {
    Text(Vec<PatternChar>),
    Der(Vec<u8>),
}

impl PatternValue {
    /// The value with every wildcard read as a literal `*`.
    fn into_value(self) -> AttributeValue {
        match self {
            PatternValue::Der(der) => AttributeValue::Der(der),
            PatternValue::Text(chars) => AttributeValue::Text(
                chars
                    .into_iter()
                    .map(|c| match c {
                        PatternChar::Literal(c) => c,
                        PatternChar::Wildcard => '*',
                    })
                    .collect(),
            ),
        }
    }

    fn matches(&self, value: &AttributeValue) -> bool {
        match (self, value) {
            (PatternValue::Text(pattern), AttributeValue::Text(text)) => {
                let text: Vec<char> = text.chars().collect();
                glob_match(pattern, &text, None)
            }
            (PatternValue::Der(pattern), AttributeValue::Der(der)) => pattern == der,
            _ => false,
        }
    }
}

/// A DN pattern from a policy rule: an RFC 4514 string where an unescaped `*` inside a value
/// matches any run of characters (`\2A` is a literal star).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnPattern {
    /// In certificate order, like [`DistinguishedName`].
    rdns: Vec<Vec<(String, PatternValue)>>,
}

impl DnPattern {
    /// Parses a pattern. The empty string is the empty name.
    pub fn parse(text: &str) -> Result<Self, Rfc4514Error> {
        parse_pattern(text)
    }

    /// True when `name` has the same RDNs, each with the same set of attribute types, and every
    /// value matches its pattern.
    pub fn matches(&self, name: &DistinguishedName) -> bool {
        self.rdns.len() == name.rdns.len()
            && self.rdns.iter().zip(&name.rdns).all(|(pattern_rdn, rdn)| {
                pattern_rdn.len() == rdn.len()
                    && pattern_rdn.iter().all(|(oid, pattern)| {
                        rdn.iter().any(|a| &a.oid == oid && pattern.matches(&a.value))
                    })
                    && rdn.iter().all(|a| pattern_rdn.iter().any(|(oid, _)| *oid == a.oid))
            })
    }
}

/// Matches `text` against `pattern`, where a wildcard matches any run of characters that does not
/// contain `stop` (e.g. `.` to keep a DNS wildcard inside one label).
pub(crate) fn glob_match(pattern: &[PatternChar], text: &[char], stop: Option<char>) -> bool {
    // Iterative matching with one backtrack point: linear in practice, never exponential.
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(PatternChar::Wildcard) => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(PatternChar::Literal(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((bp, bt)) if Some(text[bt]) != stop => {
                    backtrack = Some((bp, bt + 1));
                    p = bp + 1;
                    t = bt + 1;
                }
                _ => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == PatternChar::Wildcard)
}

/// Parses plain text as a glob: every `*` is a wildcard.
pub(crate) fn glob_pattern(text: &str) -> Vec<PatternChar> {
    text.chars()
        .map(|c| if c == '*' { PatternChar::Wildcard } else { PatternChar::Literal(c) })
        .collect()
}

fn parse_pattern(text: &str) -> Result<DnPattern, Rfc4514Error> {
    let mut parser = Rfc4514Parser { text, bytes: text.as_bytes(), pos: 0 };
    let mut rdns = Vec::new();
    if !text.is_empty() {
        loop {
            rdns.push(parser.rdn()?);
            if parser.pos == parser.bytes.len() {
                break;
            }
            parser.expect(b',')?;
        }
    }
    rdns.reverse();
    Ok(DnPattern { rdns })
}

struct Rfc4514Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Rfc4514Parser<'_> {
    fn error(&self, message: &'static str) -> Rfc4514Error {
        Rfc4514Error { message, position: self.pos }
    }

    fn expect(&mut self, byte: u8) -> Result<(), Rfc4514Error> {
        if self.bytes.get(self.pos) == Some(&byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(match byte {
                b',' => "expected ','",
                _ => "expected '='",
            }))
        }
    }

    fn rdn(&mut self) -> Result<Vec<(String, PatternValue)>, Rfc4514Error> {
        let mut attributes = vec![self.attribute()?];
        while self.bytes.get(self.pos) == Some(&b'+') {
            self.pos += 1;
            attributes.push(self.attribute()?);
        }
        Ok(attributes)
    }

    fn attribute(&mut self) -> Result<(String, PatternValue), Rfc4514Error> {
        let start = self.pos;
        while self.pos < self.bytes.len() && self.bytes[self.pos] != b'=' {
            self.pos += 1;
        }
        let name = &self.text[start..self.pos];
        let oid = attribute_oid(name).ok_or(Rfc4514Error {
            message: "unknown attribute type",
            position: start,
        })?;
        self.expect(b'=')?;
        let value = if self.bytes.get(self.pos) == Some(&b'#') {
            self.pos += 1;
            PatternValue::Der(self.hex_string()?)
        } else {
            PatternValue::Text(self.string_value()?)
        };
        Ok((oid, value))
    }

    fn hex_string(&mut self) -> Result<Vec<u8>, Rfc4514Error> {
        let mut der = Vec::new();
        while let Some(&b) = self.bytes.get(self.pos) {
            if b == b',' || b == b'+' {
                break;
            }
            der.push(self.hex_pair()?);
        }
        if der.is_empty() {
            return Err(self.error("empty hex value"));
        }
        Ok(der)
    }

    fn hex_pair(&mut self) -> Result<u8, Rfc4514Error> {
        let pair = self.bytes.get(self.pos..self.pos + 2).ok_or(self.error("truncated hex pair"))?;
        let digit = |b: u8| (b as char).to_digit(16);
        match (digit(pair[0]), digit(pair[1])) {
            (Some(hi), Some(lo)) => {
                self.pos += 2;
                Ok((hi * 16 + lo) as u8)
            }
            _ => Err(self.error("invalid hex pair")),
        }
    }

    fn string_value(&mut self) -> Result<Vec<PatternChar>, Rfc4514Error> {
        let mut chars = Vec::new();
        // Octets of `\XX` escapes, gathered until they form UTF-8.
        let mut octets: Vec<u8> = Vec::new();
        let start = self.pos;
        while let Some(&b) = self.bytes.get(self.pos) {
            if b == b',' || b == b'+' {
                break;
            }
            if b == b'\\' {
                self.pos += 1;
                match self.bytes.get(self.pos) {
                    Some(&special) if b"\\\"+,;<>#= ".contains(&special) => {
                        flush_octets(&mut octets, &mut chars, self)?;
                        chars.push(PatternChar::Literal(char::from(special)));
                        self.pos += 1;
                    }
                    Some(_) => octets.push(self.hex_pair()?),
                    None => return Err(self.error("dangling backslash")),
                }
                continue;
            }
            flush_octets(&mut octets, &mut chars, self)?;
            if matches!(b, b'"' | b';' | b'<' | b'>' | 0) {
                return Err(self.error("character must be escaped"));
            }
            let c = self.text[self.pos..].chars().next().ok_or(self.error("invalid text"))?;
            chars.push(if c == '*' { PatternChar::Wildcard } else { PatternChar::Literal(c) });
            self.pos += c.len_utf8();
        }
        flush_octets(&mut octets, &mut chars, self)?;
        let unescaped_edge_space = |index: usize| self.bytes.get(index) == Some(&b' ');
        if self.pos > start && (unescaped_edge_space(start) || (unescaped_edge_space(self.pos - 1) && !self.is_escaped(self.pos - 1)))
        {
            return Err(Rfc4514Error { message: "leading or trailing space must be escaped", position: start });
        }
        Ok(chars)
    }

    /// True when the byte at `index` is preceded by an odd number of backslashes.
    fn is_escaped(&self, index: usize) -> bool {
        self.bytes[..index].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
    }
}

fn flush_octets(
    octets: &mut Vec<u8>,
    chars: &mut Vec<PatternChar>,
    parser: &Rfc4514Parser<'_>,
) -> Result<(), Rfc4514Error> {
    if octets.is_empty() {
        return Ok(());
    }
    let text = std::str::from_utf8(octets).map_err(|_| parser.error("escaped octets are not UTF-8"))?;
    chars.extend(text.chars().map(PatternChar::Literal));
    octets.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(oid: &str, value: &str) -> Attribute {
        Attribute { oid: oid.to_owned(), value: AttributeValue::Text(value.to_owned()) }
    }

    fn client_name() -> DistinguishedName {
        DistinguishedName::new(vec![
            vec![text("2.5.4.6", "US")],
            vec![text("2.5.4.10", "Acme, Inc.")],
            vec![text("2.5.4.11", "Payments")],
            vec![text("2.5.4.3", "client-a")],
        ])
    }

    #[test]
    fn rfc4514_reverses_rdns_and_escapes_specials() {
        assert_eq!(client_name().to_rfc4514(), r"CN=client-a,OU=Payments,O=Acme\, Inc.,C=US");
    }

    #[test]
    fn node_text_keeps_certificate_order() {
        assert_eq!(client_name().to_node_text(), r"C=US,O=Acme\, Inc.,OU=Payments,CN=client-a");
    }

    #[test]
    fn escapes_every_special_and_edge_character() {
        assert_eq!(escape_value(r#"a\b"c+d,e;f<g>h"#), r#"a\\b\"c\+d\,e\;f\<g\>h"#);
        assert_eq!(escape_value("#lead"), r"\#lead");
        assert_eq!(escape_value("mid#dle"), "mid#dle");
        assert_eq!(escape_value(" both "), r"\ both\ ");
        assert_eq!(escape_value(" "), r"\ ");
        assert_eq!(escape_value("evil\r\nX: 1\0"), r"evil\0D\0AX: 1\00");
        assert_eq!(escape_value("c1\u{85}"), r"c1\C2\85");
        assert_eq!(escape_value("a=b"), "a=b");
        assert_eq!(escape_value(""), "");
    }

    #[test]
    fn node_escaping_matches_openssl_rules() {
        let name = DistinguishedName::new(vec![vec![
            text("2.5.4.3", "x\r\ny"),
            text("1.2.840.113549.1.9.1", " a@b "),
            text("1.2.3.4", "Zoë"),
        ]]);
        assert_eq!(name.to_node_text(), r"CN=x\0D\0Ay + emailAddress=\ a@b\  + 1.2.3.4=Zoë");
    }

    #[test]
    fn unknown_types_use_dotted_oids_and_der_values_use_hex() {
        let name = DistinguishedName::new(vec![vec![
            text("1.2.3.4", "v"),
            Attribute { oid: "2.5.4.45".into(), value: AttributeValue::Der(vec![3, 2, 0, 0xab]) },
        ]]);
        assert_eq!(name.to_rfc4514(), "1.2.3.4=v+2.5.4.45=#030200ab");
        assert_eq!(name.to_node_text(), "1.2.3.4=v + x500UniqueIdentifier=«");
        assert_eq!(DistinguishedName::parse_rfc4514(&name.to_rfc4514()).unwrap(), name);
    }

    #[test]
    fn oids_of_any_size() {
        assert_eq!(dotted_oid(&[0x55, 0x04, 0x03]).unwrap(), "2.5.4.3");
        assert_eq!(dotted_oid(&[0x09, 0x92, 0x26]).unwrap(), "0.9.2342");
        assert_eq!(dotted_oid(&[0x2b, 0x06]).unwrap(), "1.3.6");
        assert_eq!(dotted_oid(&[0x88, 0x37, 0x01]).unwrap(), "2.999.1");
        assert_eq!(dotted_oid(&[0x7f, 0x05]).unwrap(), "2.47.5");
        // 2.25.<UUID as a 128-bit integer>, larger than u64.
        let uuid = [
            0x69, 0x83, 0xf0, 0x9d, 0xa7, 0xeb, 0xcf, 0xde, 0xe0, 0xc7, 0xa1, 0xa7, 0xb2, 0xc0, 0x94, 0x8c, 0xc8,
            0xf9, 0xd7, 0x76,
        ];
        assert_eq!(dotted_oid(&uuid).unwrap(), "2.25.329800735698586629295641978511506172918");
        assert_eq!(dotted_oid(&[]), None);
        assert_eq!(dotted_oid(&[0x55, 0x84]), None);
        assert_eq!(dotted_oid(&[0x55, 0x80, 0x01]), None);
    }

    #[test]
    fn the_u64_and_the_unbounded_oid_readings_agree() {
        // Every content of up to three octets from a spread of octet values, then long arcs
        // around the 64-bit boundary, where the u64 reading hands over to the unbounded one.
        let octets = [0x00, 0x01, 0x27, 0x28, 0x4f, 0x50, 0x7f, 0x80, 0x81, 0xff];
        let mut contents: Vec<Vec<u8>> = vec![vec![]];
        for a in octets {
            contents.push(vec![a]);
            for b in octets {
                contents.push(vec![a, b]);
                for c in octets {
                    contents.push(vec![a, b, c]);
                }
            }
        }
        for length in 8..=11 {
            let mut arc = vec![0xff; length];
            arc.push(0x7f);
            contents.push([&[0x2a][..], &arc].concat());
            contents.push(arc);
        }
        for content in &contents {
            if let Some(fast) = dotted_oid_u64(content) {
                assert_eq!(Some(fast), dotted_oid_big(content), "{content:02x?}");
            }
            assert_eq!(dotted_oid(content), dotted_oid_big(content), "{content:02x?}");
        }
        assert_eq!(dotted_oid_u64(&[0x2a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), None);
    }

    #[test]
    fn node_leaves_a_lone_hash_alone() {
        let name = DistinguishedName::new(vec![vec![text("2.5.4.5", "#")], vec![text("2.5.4.3", "#x")]]);
        assert_eq!(name.to_node_text(), r"serialNumber=#,CN=\#x");
        assert_eq!(name.to_rfc4514(), r"CN=\#x,2.5.4.5=\#");
    }

    #[test]
    fn decodes_every_string_type() {
        assert_eq!(decode_string(TAG_UTF8, "Zoë".as_bytes()).unwrap().unwrap(), "Zoë");
        assert_eq!(decode_string(TAG_PRINTABLE, b"Acme").unwrap().unwrap(), "Acme");
        assert_eq!(decode_string(TAG_IA5, b"a@b").unwrap().unwrap(), "a@b");
        assert_eq!(decode_string(TAG_T61, &[0x5a, 0x6f, 0xeb]).unwrap().unwrap(), "Zoë");
        assert_eq!(decode_string(TAG_BMP, &[0, 0x5a, 0, 0xeb, 0x65, 0xe5]).unwrap().unwrap(), "Zë日");
        assert_eq!(
            decode_string(TAG_UNIVERSAL, &[0, 0, 0, 0x41, 0, 1, 0xf5, 0x12]).unwrap().unwrap(),
            "A🔒"
        );
        assert_eq!(decode_string(4, b"octets").unwrap(), None);
    }

    #[test]
    fn rejects_invalid_encodings() {
        assert_eq!(decode_string(TAG_UTF8, &[0xff]).unwrap_err().string_type, "UTF8String");
        assert_eq!(decode_string(TAG_BMP, &[0, 0x41, 0]).unwrap_err().string_type, "BMPString");
        assert_eq!(decode_string(TAG_BMP, &[0xd8, 0x00]).unwrap_err().string_type, "BMPString");
        assert_eq!(
            decode_string(TAG_UNIVERSAL, &[0, 0x11, 0, 0]).unwrap_err().string_type,
            "UniversalString"
        );
        assert_eq!(decode_string(TAG_UNIVERSAL, &[0, 0, 0]).unwrap_err().string_type, "UniversalString");
        assert_eq!(decode_string(TAG_PRINTABLE, &[0xc3]).unwrap_err().string_type, "PrintableString");
    }

    #[test]
    fn parses_keywords_short_names_and_oids() {
        let name = DistinguishedName::parse_rfc4514(r"cn=a\2Cb+emailAddress=x@y,2.5.4.10=Acme").unwrap();
        assert_eq!(
            name,
            DistinguishedName::new(vec![
                vec![text("2.5.4.10", "Acme")],
                vec![text("2.5.4.3", "a,b"), text("1.2.840.113549.1.9.1", "x@y")],
            ])
        );
    }

    #[test]
    fn rejects_malformed_rfc4514() {
        for bad in ["CN", "CN=a,", "XX=a", "CN=a\\", "CN=a\\zz", "CN=a;b", "CN= a", "CN=#", "CN=\\C3", "=a"] {
            assert!(DistinguishedName::parse_rfc4514(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(DistinguishedName::parse_rfc4514("").unwrap().is_empty());
    }

    #[test]
    fn patterns_compare_parsed_names_with_wildcards() {
        let name = client_name();
        for pattern in [
            r"CN=client-a,OU=Payments,O=Acme\, Inc.,C=US",
            r"cn=client-*,ou=Payments,o=Acme\2C Inc.,c=US",
            r"CN=*,OU=*,O=*,C=*",
        ] {
            assert!(DnPattern::parse(pattern).unwrap().matches(&name), "{pattern}");
        }
        for pattern in [
            r"CN=client-b,OU=Payments,O=Acme\, Inc.,C=US",
            r"CN=client-a,OU=Payments,O=Acme\, Inc.",
            r"CN=client\2A,OU=Payments,O=Acme\, Inc.,C=US",
            r"OU=Payments,CN=client-a,O=Acme\, Inc.,C=US",
            r"CN=*,OU=*,O=*,C=*,DC=*",
        ] {
            assert!(!DnPattern::parse(pattern).unwrap().matches(&name), "{pattern}");
        }
    }

    #[test]
    fn multi_valued_rdns_match_as_sets() {
        let name = DistinguishedName::new(vec![vec![text("2.5.4.3", "m"), text("0.9.2342.19200300.100.1.1", "u1")]]);
        assert!(DnPattern::parse("UID=u*+CN=m").unwrap().matches(&name));
        assert!(!DnPattern::parse("CN=m").unwrap().matches(&name));
        assert!(!DnPattern::parse("CN=m+CN=m").unwrap().matches(&name));
    }

    #[test]
    fn glob_stops_at_the_stop_character() {
        let g = glob_pattern("*.example.org");
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        assert!(glob_match(&g, &chars("a.example.org"), Some('.')));
        assert!(!glob_match(&g, &chars("a.b.example.org"), Some('.')));
        assert!(glob_match(&g, &chars("a.b.example.org"), None));
        assert!(!glob_match(&g, &chars(".example.org.x"), None));
        assert!(glob_match(&glob_pattern("a*b*c"), &chars("axxbyyc"), None));
    }

    fn attribute_value() -> impl Strategy<Value = String> {
        // Specials, edge spaces, controls (C0, DEL, C1), non-ASCII and astral characters.
        let nasty = prop::sample::select(vec![
            '\\', '"', '+', ',', ';', '<', '>', '#', '=', ' ', '*', '\0', '\r', '\n', '\t', '\u{7f}',
            '\u{85}', 'é', '日', '🔒', 'a', 'Z', '0', '-', '.',
        ]);
        prop::collection::vec(prop_oneof![nasty, any::<char>()], 0..24).prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn rfc4514_round_trips(values in prop::collection::vec(prop::collection::vec(attribute_value(), 1..3), 0..5)) {
            let oids = ["2.5.4.3", "2.5.4.11", "1.2.840.113549.1.9.1", "1.3.6.1.4.1.99999.1"];
            let rdns: Vec<Rdn> = values
                .iter()
                .enumerate()
                .map(|(i, rdn)| rdn.iter().enumerate().map(|(j, v)| text(oids[(i + j) % oids.len()], v)).collect())
                .collect();
            let name = DistinguishedName::new(rdns);
            let rendered = name.to_rfc4514();
            prop_assert!(!rendered.contains(['\r', '\n', '\0']));
            prop_assert_eq!(DistinguishedName::parse_rfc4514(&rendered).unwrap(), name);
        }

        #[test]
        fn byte_scan_escapes_as_the_rules_say_per_character(value in attribute_value()) {
            // The rules of escape_value's doc comment, one character at a time.
            let last = value.chars().count().saturating_sub(1);
            let mut expected = String::new();
            for (i, c) in value.chars().enumerate() {
                match c {
                    '\\' | '"' | '+' | ',' | ';' | '<' | '>' => expected.extend(['\\', c]),
                    '#' if i == 0 => expected.push_str("\\#"),
                    ' ' if i == 0 || i == last => expected.push_str("\\ "),
                    c if c.is_control() => {
                        for b in c.to_string().bytes() {
                            expected.push_str(&format!("\\{b:02X}"));
                        }
                    }
                    c => expected.push(c),
                }
            }
            prop_assert_eq!(escape_value(&value), expected);
        }

        #[test]
        fn escaped_values_match_themselves_as_patterns(value in attribute_value()) {
            let name = DistinguishedName::new(vec![vec![text("2.5.4.3", &value)]]);
            let pattern = DnPattern::parse(&name.to_rfc4514().replace('*', r"\2A")).unwrap();
            prop_assert!(pattern.matches(&name));
        }
    }
}
