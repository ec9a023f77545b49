//! Subject alternative names, typed.

use std::net::IpAddr;

/// The subject alternative names of a certificate, each list in certificate order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubjectAltNames {
    /// `dNSName` entries.
    pub dns: Vec<String>,
    /// `uniformResourceIdentifier` entries.
    pub uri: Vec<String>,
    /// `rfc822Name` entries.
    pub email: Vec<String>,
    /// `iPAddress` entries.
    pub ip: Vec<IpAddr>,
    /// Every other kind of name, kept as its kind.
    pub other: Vec<OtherName>,
}

/// A subject alternative name of a kind that certprop does not render.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtherName {
    /// `otherName`, `x400Address`, `directoryName`, `ediPartyName` or `registeredID`.
    pub kind: &'static str,
    /// The type OID of an `otherName`, the OID of a `registeredID`, the RFC 4514 text of a
    /// `directoryName`; empty for the others.
    pub detail: String,
}

/// Why a SAN entry was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InvalidSan(pub &'static str);

impl SubjectAltNames {
    /// True when the certificate has no subject alternative name.
    pub fn is_empty(&self) -> bool {
        self.dns.is_empty() && self.uri.is_empty() && self.email.is_empty() && self.ip.is_empty() && self.other.is_empty()
    }

    /// Adds one entry of the raw extension.
    pub(crate) fn push(&mut self, name: &x509_parser::extensions::GeneralName<'_>) -> Result<(), InvalidSan> {
        use x509_parser::extensions::GeneralName as G;
        match name {
            G::DNSName(dns) => self.dns.push(ia5(dns, "dNSName")?),
            G::URI(uri) => self.uri.push(ia5(uri, "uniformResourceIdentifier")?),
            G::RFC822Name(email) => self.email.push(ia5(email, "rfc822Name")?),
            G::IPAddress(octets) => self.ip.push(ip_address(octets)?),
            G::OtherName(oid, _) => self.other.push(OtherName { kind: "otherName", detail: oid_detail(oid, "otherName")? }),
            G::RegisteredID(oid) => {
                self.other.push(OtherName { kind: "registeredID", detail: oid_detail(oid, "registeredID")? })
            }
            G::DirectoryName(name) => {
                let name = crate::identity::decode_name(name).map_err(|_| InvalidSan("directoryName"))?;
                self.other.push(OtherName { kind: "directoryName", detail: name.to_rfc4514() });
            }
            G::X400Address(_) => self.other.push(OtherName { kind: "x400Address", detail: String::new() }),
            G::EDIPartyName(_) => self.other.push(OtherName { kind: "ediPartyName", detail: String::new() }),
            G::Invalid(_, _) => return Err(InvalidSan("entry")),
        }
        Ok(())
    }
}

fn oid_detail(oid: &x509_parser::der_parser::oid::Oid<'_>, kind: &'static str) -> Result<String, InvalidSan> {
    crate::identity::oid_text(oid).ok_or(InvalidSan(kind))
}

/// IA5String is 7-bit ASCII; anything else is rejected rather than guessed at.
fn ia5(text: &str, kind: &'static str) -> Result<String, InvalidSan> {
    if text.is_ascii() {
        Ok(text.to_owned())
    } else {
        Err(InvalidSan(kind))
    }
}

fn ip_address(octets: &[u8]) -> Result<IpAddr, InvalidSan> {
    if let Ok(v4) = <[u8; 4]>::try_from(octets) {
        Ok(IpAddr::from(v4))
    } else if let Ok(v6) = <[u8; 16]>::try_from(octets) {
        Ok(IpAddr::from(v6))
    } else {
        Err(InvalidSan("iPAddress"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::extensions::GeneralName as G;

    #[test]
    fn sorts_entries_by_kind_in_order() {
        let mut san = SubjectAltNames::default();
        let v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        for name in [G::DNSName("a.example"), G::IPAddress(&[10, 1, 2, 3]), G::DNSName("b.example"), G::IPAddress(&v6)] {
            san.push(&name).unwrap();
        }
        assert_eq!(san.dns, ["a.example", "b.example"]);
        let ips: Vec<String> = san.ip.iter().map(ToString::to_string).collect();
        assert_eq!(ips, ["10.1.2.3", "2001:db8::1"]);
    }

    #[test]
    fn rejects_bad_ip_lengths_and_non_ascii_names() {
        let mut san = SubjectAltNames::default();
        assert_eq!(san.push(&G::IPAddress(&[1, 2, 3])), Err(InvalidSan("iPAddress")));
        assert_eq!(san.push(&G::DNSName("é.example")), Err(InvalidSan("dNSName")));
        assert!(san.is_empty());
    }
}
