//! Drop-in: with preset `aws-sample`, the built authorizer (through a Runtime API) answers the
//! same `principalId` and `context.clientCertSub` as the AWS sample's Node authorizer
//! (`tests/node/aws-sample-authorizer.mjs`, a handler of our own that does what the sample
//! does) for the same REST events: every certificate under `certs/` and a sample of pyca's
//! `cryptography_vectors`.
//!
//! Each event ends in one outcome; only `same` and the deliberate differences listed in
//! [`Outcome`] are allowed, and two answers that both allow with different values never are.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use certprop_tests::authorizer::{answers, rest_event};
use certprop_tests::{certificate_samples, repo_root};
use serde_json::Value;

/// The shipped drop-in config, and the same without the validity check (so that the many
/// expired vectors are compared too).
const CONFIG: &str = r#"{"preset":"aws-sample"}"#;
const CONFIG_ANY_TIME: &str = r#"{"preset":"aws-sample","policy":{"check_validity":false}}"#;

/// Every how-many-th DER certificate (`.crt`, `.der`) of the vectors joins the sample (all of
/// their `.pem` files do).
const DER_SAMPLE_EVERY: usize = 4;

/// Vector files that Node reads and certprop refuses (`malformed_certificate`), and why.
const CERTPROP_ONLY_REJECTS: &[(&str, &str)] = &[
    (
        "utf8-dnsname.pem",
        "a dNSName SAN (IA5String) holding UTF-8 bytes: certprop fails closed rather than guess the \
         charset of a name that policy rules match on (as in tests/oracle/test_corpus.py)",
    ),
    ("badasn1time.pem", "a validity time that is not valid DER (UTCTime without seconds): refused, not guessed"),
    ("invalid_version.pem", "X.509 version field 7: certprop reads v1 to v3 only"),
    (
        "duplicate-san-extension.pem",
        "two subjectAltName extensions (certs/hostile): which names are the client's? RFC 5280 allows one; \
         certprop refuses, OpenSSL reads the subject (Envoy refuses it in the handshake)",
    ),
    ("duplicate-eku-extension.pem", "two extendedKeyUsage extensions (certs/hostile): as above"),
];

/// Vector files that Node (OpenSSL) refuses and certprop reads, and why.
const NODE_ONLY_REJECTS: &[(&str, &str)] = &[
    (
        "long-form-name-attribute.pem",
        "an attribute value whose tag is not a string type: OpenSSL refuses the certificate, certprop \
         reads the identity and prints the value's content octets as OpenSSL would for an unknown type",
    ),
    ("name_attribute_unsupported_tag.pem", "a CN whose value is [APPLICATION 9], not a string: as above"),
];

/// Known gaps in the core's `subject_node` (reported; remove an entry once the core is fixed,
/// the test fails on an entry that no longer differs).
const KNOWN_CORE_GAPS: &[(&str, &str)] = &[];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Both allow with the same principalId and clientCertSub.
    Same,
    /// Neither has a certificate: both answer `Unauthorized`.
    BothUnauthorized,
    /// Node cannot read it (throws) and certprop denies it as `malformed_certificate`.
    BothRefuse,
    /// Node allows; certprop denies by its default validity policy (`expired`,
    /// `not_yet_valid`). API Gateway refuses such certificates in the handshake anyway.
    CertpropValidityPolicy,
    /// Node allows; certprop refuses to send a value that is not a safe header value or is over
    /// `max_header_bytes` (a trailing space HTTP would trim, a 7 KB subject): fail closed.
    CertpropUnsafeHeader,
    /// Node throws on an empty subject (its `subject` is undefined); certprop allows with the
    /// SPIFFE ID (or the fingerprint) as principalId and no clientCertSub.
    NodeFailsOnEmptySubject,
    /// Listed in [`CERTPROP_ONLY_REJECTS`].
    CertpropOnlyRejects,
    /// Listed in [`NODE_ONLY_REJECTS`].
    NodeOnlyRejects,
    /// Listed in [`KNOWN_CORE_GAPS`].
    KnownCoreGap,
}

fn listed(list: &[(&str, &str)], basename: &str) -> bool {
    list.iter().any(|(name, _)| *name == basename)
}

struct Case {
    name: String,
    event: Value,
}

fn cases() -> Vec<Case> {
    let mut cases = vec![Case { name: "(no certificate)".into(), event: rest_event(None) }];
    for sample in certificate_samples(DER_SAMPLE_EVERY) {
        cases.push(Case { event: rest_event(Some(&sample.pem)), name: sample.name });
    }
    cases
}

/// Node's answer per event: `Ok(response)` or `Err(message)`.
fn node_answers(events: &[&Value]) -> Vec<Result<Value, String>> {
    let script = repo_root().join("tests/node/run-events.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("node: {e}: the drop-in test needs Node.js (`make node`)"));
    let input = serde_json::to_vec(events).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "node failed: {}", String::from_utf8_lossy(&output.stderr));
    let results: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    results
        .into_iter()
        .map(|r| match r.get("response") {
            Some(response) => Ok(response.clone()),
            None => Err(r["error"].as_str().unwrap_or_default().to_owned()),
        })
        .collect()
}

fn effect(response: &Value) -> &str {
    response["policyDocument"]["Statement"][0]["Effect"].as_str().unwrap_or_default()
}

#[test]
fn aws_sample_preset_is_a_drop_in_for_the_node_sample() {
    let counts = compare(CONFIG);
    assert!(counts.get(&Outcome::CertpropValidityPolicy).copied().unwrap_or(0) > 0, "{counts:?}");
}

#[test]
fn aws_sample_preset_without_validity_check_gives_nodes_values_for_expired_certificates_too() {
    let counts = compare(CONFIG_ANY_TIME);
    assert_eq!(counts.get(&Outcome::CertpropValidityPolicy), None, "{counts:?}");
    assert!(counts.get(&Outcome::Same).copied().unwrap_or(0) > 200, "{counts:?}");
    // Every certificate is compared here, so every allowlist entry must still be needed.
    let allowlisted = CERTPROP_ONLY_REJECTS.len() + NODE_ONLY_REJECTS.len() + KNOWN_CORE_GAPS.len();
    let used: usize = [Outcome::CertpropOnlyRejects, Outcome::NodeOnlyRejects, Outcome::KnownCoreGap]
        .iter()
        .map(|o| counts.get(o).copied().unwrap_or(0))
        .sum();
    assert_eq!(used, allowlisted, "an allowlist entry no longer applies (fixed?): {counts:?}");
}

fn compare(config: &str) -> BTreeMap<Outcome, usize> {
    let cases = cases();
    let events: Vec<&Value> = cases.iter().map(|c| &c.event).collect();
    let node = node_answers(&events);
    let ours = answers(config, &events);
    assert_eq!((node.len(), ours.len()), (cases.len(), cases.len()));

    let mut counts: BTreeMap<Outcome, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for ((case, node), ours) in cases.iter().zip(&node).zip(&ours) {
        let basename = case.name.rsplit('/').next().unwrap_or_default();
        let node_fails_on_empty_subject = |n: &String| n.contains("reading 'replaceAll'");
        let outcome = match (node, ours) {
            (Err(n), Err(o)) if n == "Unauthorized" && o == "Unauthorized" => Some(Outcome::BothUnauthorized),
            (Ok(n), Ok(o)) if effect(o) == "Allow" => {
                assert_eq!(effect(n), "Allow");
                assert_eq!(n["principalId"], n["context"]["clientCertSub"]);
                let same = n["principalId"] == o["principalId"] && n["context"]["clientCertSub"] == o["context"]["clientCertSub"];
                if same {
                    Some(Outcome::Same)
                } else if listed(KNOWN_CORE_GAPS, basename) {
                    Some(Outcome::KnownCoreGap)
                } else {
                    None
                }
            }
            (Ok(_), Ok(o)) => match o["context"]["denyReason"].as_str() {
                Some("expired" | "not_yet_valid") => Some(Outcome::CertpropValidityPolicy),
                Some("unsafe_header_value" | "header_too_large") => Some(Outcome::CertpropUnsafeHeader),
                Some("malformed_certificate") if listed(CERTPROP_ONLY_REJECTS, basename) => Some(Outcome::CertpropOnlyRejects),
                _ => None,
            },
            (Err(_), Ok(o)) if effect(o) == "Deny" && o["context"]["denyReason"] == "malformed_certificate" => {
                Some(Outcome::BothRefuse)
            }
            // An empty subject: Node throws; certprop allows without clientCertSub, or denies by policy.
            (Err(n), Ok(o)) if node_fails_on_empty_subject(n) && o["context"].get("clientCertSub").is_none() => {
                Some(Outcome::NodeFailsOnEmptySubject)
            }
            (Err(_), Ok(_)) if listed(NODE_ONLY_REJECTS, basename) => Some(Outcome::NodeOnlyRejects),
            _ => None,
        };
        match outcome {
            Some(outcome) => *counts.entry(outcome).or_default() += 1,
            None => failures.push(format!("{}:\n  node:     {node:?}\n  certprop: {ours:?}", case.name)),
        }
    }
    eprintln!("drop-in with {config} over {} events: {counts:?}", cases.len());

    assert!(failures.is_empty(), "{} events differ:\n{}", failures.len(), failures.join("\n"));
    assert!(cases.len() > 100, "expected certs/ and the vectors, found {} events", cases.len());
    assert!(counts.get(&Outcome::Same).copied().unwrap_or(0) > 80, "{counts:?}");
    for name in ["certs/client.pem", "certs/unicode.pem", "certs/hostile-crlf.pem", "certs/multi-rdn.pem"] {
        let i = cases.iter().position(|c| c.name == name).unwrap();
        assert_eq!(ours[i].as_ref().ok().map(|o| &o["principalId"]), node[i].as_ref().ok().map(|n| &n["principalId"]), "{name}");
    }
    counts
}
