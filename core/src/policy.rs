//! Applying the policy to an identity: validity, extended key usage, allow and deny rules.

use crate::config::{Policy, Rule};
use crate::decision::DenyReason;
use crate::dn::{glob_match, PatternChar};
use crate::identity::{Identity, OID_CLIENT_AUTH};

impl Policy {
    /// `Ok(())` when the identity may pass at `now` (Unix seconds), else why not.
    #[cfg(test)]
    pub(crate) fn check(&self, identity: &Identity, now: i64) -> Result<(), DenyReason> {
        valid_at(self.validity(identity), now).and_then(|()| self.check_rules(identity))
    }

    /// The first and last second (Unix time, clock skew included) at which the identity is valid,
    /// `None` when the policy does not check validity.
    pub(crate) fn validity(&self, identity: &Identity) -> Option<(i64, i64)> {
        let skew = i64::from(self.clock_skew_seconds);
        self.check_validity
            .then(|| (identity.not_before().saturating_sub(skew), identity.not_after().saturating_add(skew)))
    }

    /// Everything but validity: the EKU requirement, then the deny rules, then the allow rules.
    pub(crate) fn check_rules(&self, identity: &Identity) -> Result<(), DenyReason> {
        if self.require_client_auth_eku && !identity.extended_key_usage().iter().any(|oid| oid == OID_CLIENT_AUTH) {
            return Err(DenyReason::MissingClientAuthEku);
        }
        if self.deny.iter().any(|rule| rule.matches(identity)) {
            return Err(DenyReason::PolicyDenied);
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|rule| rule.matches(identity)) {
            return Err(DenyReason::PolicyDenied);
        }
        Ok(())
    }
}

/// `Ok(())` when `now` lies inside `validity` (from [`Policy::validity`]; `None`: not checked).
pub(crate) fn valid_at(validity: Option<(i64, i64)>, now: i64) -> Result<(), DenyReason> {
    match validity {
        Some((from, _)) if now < from => Err(DenyReason::NotYetValid),
        Some((_, until)) if now > until => Err(DenyReason::Expired),
        _ => Ok(()),
    }
}

impl Rule {
    /// True when every field the rule gives matches the identity.
    pub(crate) fn matches(&self, identity: &Identity) -> bool {
        let san = identity.san();
        self.issuer.as_ref().is_none_or(|p| p.matches(identity.issuer()))
            && self.subject.as_ref().is_none_or(|p| p.matches(identity.subject()))
            && self.spiffe_id.as_ref().is_none_or(|p| identity.spiffe_id().is_some_and(|id| glob(p, id, None)))
            && self.spiffe_trust_domain.as_ref().is_none_or(|domain| {
                identity.spiffe_id().and_then(trust_domain).is_some_and(|d| d == domain)
            })
            && self.dns_san.as_ref().is_none_or(|p| {
                san.dns.iter().any(|dns| glob(p, &dns.to_ascii_lowercase(), Some('.')))
            })
            && self.uri_san.as_ref().is_none_or(|p| san.uri.iter().any(|uri| glob(p, uri, None)))
            && self.email_san.as_ref().is_none_or(|p| san.email.iter().any(|email| glob(p, email, None)))
            && self.sha256.as_ref().is_none_or(|hex| *hex == identity.sha256_hex())
            && self.serial.as_ref().is_none_or(|hex| *hex == identity.serial_hex())
    }
}

fn glob(pattern: &[PatternChar], text: &str, stop: Option<char>) -> bool {
    let text: Vec<char> = text.chars().collect();
    glob_match(pattern, &text, stop)
}

/// The trust domain of a SPIFFE ID: the authority between `spiffe://` and the next `/`.
fn trust_domain(spiffe_id: &str) -> Option<&str> {
    let rest = spiffe_id.strip_prefix("spiffe://")?;
    Some(rest.split('/').next().unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn identity(name: &str) -> Identity {
        let path = format!("{}/../certs/{name}.pem", env!("CARGO_MANIFEST_DIR"));
        crate::parse(&std::fs::read(path).unwrap()).unwrap()
    }

    /// 2027-01-01T00:00:00Z: inside every test certificate's validity but the two made to fail it.
    const NOW: i64 = 1_798_761_600;

    fn check(policy_json: &str, name: &str, now: i64) -> Result<(), DenyReason> {
        let config = Config::from_json(&format!(r#"{{"policy":{policy_json}}}"#)).unwrap();
        config.policy().check(&identity(name), now)
    }

    #[test]
    fn validity_with_skew() {
        let expired = identity("expired");
        assert_eq!(check("{}", "expired", NOW), Err(DenyReason::Expired));
        assert_eq!(check("{}", "expired", expired.not_after()), Ok(()));
        assert_eq!(check("{}", "expired", expired.not_after() + 1), Err(DenyReason::Expired));
        assert_eq!(check(r#"{"clock_skew_seconds":60}"#, "expired", expired.not_after() + 60), Ok(()));
        assert_eq!(check("{}", "not-yet-valid", NOW), Err(DenyReason::NotYetValid));
        let future = identity("not-yet-valid");
        assert_eq!(check(r#"{"clock_skew_seconds":5}"#, "not-yet-valid", future.not_before() - 5), Ok(()));
        assert_eq!(check(r#"{"check_validity":false}"#, "expired", NOW), Ok(()));
        assert_eq!(check("{}", "client", NOW), Ok(()));
    }

    #[test]
    fn client_auth_eku() {
        let require = r#"{"require_client_auth_eku":true}"#;
        assert_eq!(check(require, "no-eku", NOW), Err(DenyReason::MissingClientAuthEku));
        assert_eq!(check(require, "client", NOW), Ok(()));
        assert_eq!(check("{}", "no-eku", NOW), Ok(()));
    }

    #[test]
    fn allow_rules_any_may_match_and_every_field_must() {
        let policy = r#"{"allow":[{"subject":"CN=client-*,OU=Payments,O=Acme\\, Inc.,C=US","issuer":"CN=certprop Test CA,O=certprop"},
                                   {"spiffe_trust_domain":"example.org"}]}"#;
        assert_eq!(check(policy, "client", NOW), Ok(()));
        assert_eq!(check(policy, "spiffe", NOW), Ok(()));
        assert_eq!(check(policy, "client-b", NOW), Err(DenyReason::PolicyDenied));
        let both = r#"{"allow":[{"subject":"CN=client-a,OU=Payments,O=Acme\\, Inc.,C=US","issuer":"CN=Other CA"}]}"#;
        assert_eq!(check(both, "client", NOW), Err(DenyReason::PolicyDenied));
    }

    #[test]
    fn deny_wins_over_allow() {
        let id = identity("client");
        let policy = format!(
            r#"{{"allow":[{{"dns_san":"*.example.org"}}],"deny":[{{"serial":"{}"}}]}}"#,
            id.serial_hex()
        );
        assert_eq!(check(&policy, "client", NOW), Err(DenyReason::PolicyDenied));
        assert_eq!(check(&policy, "client-b", NOW), Ok(()));
        let by_fingerprint = format!(r#"{{"deny":[{{"sha256":"{}"}}]}}"#, id.sha256_hex().to_uppercase());
        assert_eq!(check(&by_fingerprint, "client", NOW), Err(DenyReason::PolicyDenied));
    }

    #[test]
    fn san_and_spiffe_matchers() {
        assert_eq!(check(r#"{"allow":[{"dns_san":"*.example.org"}]}"#, "client", NOW), Ok(()));
        assert_eq!(check(r#"{"allow":[{"dns_san":"*.org"}]}"#, "client", NOW), Err(DenyReason::PolicyDenied));
        assert_eq!(check(r#"{"allow":[{"email_san":"*@example.org"}]}"#, "client", NOW), Ok(()));
        assert_eq!(check(r#"{"allow":[{"uri_san":"spiffe://example.org/*"}]}"#, "spiffe", NOW), Ok(()));
        assert_eq!(check(r#"{"allow":[{"spiffe_id":"spiffe://example.org/ns/*/sa/client"}]}"#, "spiffe", NOW), Ok(()));
        assert_eq!(check(r#"{"allow":[{"spiffe_id":"*"}]}"#, "client", NOW), Err(DenyReason::PolicyDenied));
        assert_eq!(check(r#"{"allow":[{"spiffe_trust_domain":"example.com"}]}"#, "spiffe", NOW), Err(DenyReason::PolicyDenied));
        assert_eq!(check(r#"{"allow":[{"subject":""}]}"#, "spiffe", NOW), Ok(()));
    }

    #[test]
    fn trust_domain_is_the_authority() {
        assert_eq!(trust_domain("spiffe://example.org/ns/a"), Some("example.org"));
        assert_eq!(trust_domain("spiffe://example.org"), Some("example.org"));
        assert_eq!(trust_domain("https://example.org"), None);
    }
}
