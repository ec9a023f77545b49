//! The `Cert=` of an `x-forwarded-client-cert` header, as Envoy's connection manager writes it.
//!
//! The header is a comma-separated list of elements, one per proxy hop; an element is a
//! semicolon-separated list of `Key=Value` pairs, and a value that contains `,`, `;` or `=` is
//! double-quoted with `\"` for a quote inside. The element a proxy appends comes last, so the last
//! element's `Cert` is the certificate of the connection this proxy terminated. Envoy writes `Cert`
//! as URL-encoded PEM, which [`certprop::parse`] accepts as it is.

/// The `Cert` value of the last element, unquoted (still URL-encoded), if it has one. Earlier
/// elements belong to other hops and are never used.
pub fn last_cert(header: &str) -> Option<String> {
    let element = elements(header).pop()?;
    element.into_iter().find_map(|(key, value)| (key.eq_ignore_ascii_case("cert") && !value.is_empty()).then_some(value))
}

/// Splits the header into elements of `(key, value)` pairs, honouring quotes.
fn elements(header: &str) -> Vec<Vec<(String, String)>> {
    let mut elements = Vec::new();
    let mut pairs = Vec::new();
    let mut key = String::new();
    let mut value = String::new();
    let mut in_value = false;
    let mut quoted = false;
    let mut chars = header.chars();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        value.push(next);
                    }
                }
                '"' => quoted = false,
                _ => value.push(c),
            }
            continue;
        }
        match c {
            '"' if in_value => quoted = true,
            '=' if !in_value => in_value = true,
            ';' | ',' => {
                if in_value {
                    pairs.push((std::mem::take(&mut key).trim().to_owned(), std::mem::take(&mut value)));
                }
                key.clear();
                in_value = false;
                if c == ',' {
                    elements.push(std::mem::take(&mut pairs));
                }
            }
            _ if in_value => value.push(c),
            _ => key.push(c),
        }
    }
    if in_value {
        pairs.push((key.trim().to_owned(), value));
    }
    elements.push(pairs);
    elements
}

#[cfg(test)]
mod tests {
    use super::last_cert;

    #[test]
    fn finds_cert_among_quoted_values() {
        let header = r#"Hash=ab12;Cert="-----BEGIN%20CERTIFICATE-----%0AMII%0A";Subject="CN=a,O=b\"c;d";URI=spiffe://x/y"#;
        assert_eq!(last_cert(header).as_deref(), Some("-----BEGIN%20CERTIFICATE-----%0AMII%0A"));
    }

    #[test]
    fn unquoted_cert_and_key_case() {
        assert_eq!(last_cert("By=spiffe://a;cert=abc%0A;DNS=x").as_deref(), Some("abc%0A"));
    }

    #[test]
    fn last_element_wins() {
        let header = r#"Cert="first";Subject="CN=a,b",Hash=1;Cert="second""#;
        assert_eq!(last_cert(header).as_deref(), Some("second"));
    }

    #[test]
    fn absent_or_empty() {
        assert_eq!(last_cert(""), None);
        assert_eq!(last_cert(r#"Hash=ab;Subject="CN=x""#), None);
        assert_eq!(last_cert("Cert"), None);
    }

    #[test]
    fn earlier_hops_are_not_used() {
        assert_eq!(last_cert(r#"Cert="a",Hash=b"#), None);
    }
}
