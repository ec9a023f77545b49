//! Criterion benchmarks of the core on the certificates under `certs/` (`make bench` runs them and
//! puts the figures in `BENCHMARKS.md`).
//!
//! ```text
//!  certs/*.pem ──► parse        (one iteration = every certificate once)
//!  the same    ──► floor        PEM → DER → x509-parser → SHA-256, no identity: what parse cannot avoid
//!  Identity    ──► decide       default config, each preset, a policy with 10 rules
//!  certs/*.pem ──► parse_decide parse then decide, as an edge without a cache does
//!  each .pem   ──► parse_decide_each/<file>  the same for one certificate, aws-sample preset
//! ```
//!
//! Every benchmark runs over the same certificates (the `.pem` files that `parse` accepts) and
//! reports one iteration over all of them; `Throughput::Elements` makes criterion print the rate
//! per certificate too.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use certprop::{decide, parse, Config, Identity};
use sha2::{Digest as _, Sha256};
use x509_parser::certificate::X509CertificateParser;
use x509_parser::nom::Parser as _;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

/// The PEM of every certificate under `certs/` that parses, sorted by file name.
fn certificates() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../certs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "pem"))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let bytes = std::fs::read(&path).ok()?;
            parse(&bytes).ok()?;
            Some((path.file_name()?.to_string_lossy().into_owned(), bytes))
        })
        .collect()
}

/// Ten rules: seven `allow` (the ones the client certificates match come last) and three `deny`.
const POLICY_10_RULES: &str = r#"{
  "policy": {
    "allow": [
      {"issuer": "CN=Other CA,O=Elsewhere", "subject": "CN=svc-*,O=Elsewhere"},
      {"spiffe_trust_domain": "other.example"},
      {"dns_san": "*.internal.example.net"},
      {"email_san": "*@partner.example"},
      {"sha256": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"},
      {"spiffe_trust_domain": "example.org"},
      {"issuer": "CN=certprop Test CA,O=certprop", "subject": "CN=*,OU=Payments,O=Acme\\, Inc.,C=US"}
    ],
    "deny": [
      {"serial": "01"},
      {"serial": "0badc0ffee"},
      {"subject": "CN=revoked-*,O=Acme\\, Inc.,C=US"}
    ]
  }
}"#;

/// The configs `decide` is measured with: the name in `BENCHMARKS.md` and the JSON.
const CONFIGS: [(&str, &str); 6] = [
    ("default", "{}"),
    ("aws-sample", r#"{"preset":"aws-sample"}"#),
    ("rfc9440", r#"{"preset":"rfc9440"}"#),
    ("xfcc", r#"{"preset":"xfcc"}"#),
    ("alb", r#"{"preset":"alb"}"#),
    ("policy-10-rules", POLICY_10_RULES),
];

/// PEM body to DER, the DER parsed by x509-parser, its SHA-256: the size of the certificate in
/// bytes, or 0 when something fails.
fn floor(pem: &str) -> usize {
    let mut body = Vec::with_capacity(pem.len());
    for line in pem.lines().filter(|line| !line.starts_with("-----")) {
        body.extend_from_slice(line.trim_ascii().as_bytes());
    }
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(body) else { return 0 };
    let digest = Sha256::digest(&der);
    match x509(&der) {
        Some(len) => len + usize::from(digest[0]),
        None => 0,
    }
}

/// x509-parser's parse as `parse` calls it (no deep parse of extensions): the certificate's size.
fn x509(der: &[u8]) -> Option<usize> {
    let (_, cert) = X509CertificateParser::new().with_deep_parse_extensions(false).parse(der).ok()?;
    Some(cert.as_ref().len())
}

fn benches(c: &mut Criterion) {
    let certs = certificates();
    assert!(!certs.is_empty(), "no certificate under certs/ parses: run `make certs`");
    let identities: Vec<Identity> = certs.iter().filter_map(|(_, pem)| parse(pem).ok()).collect();
    // A fixed instant inside the test certificates' validity (expired.pem and not-yet-valid.pem
    // stay outside theirs), so that every run decides the same way.
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_256_000); // 2026-12-03T00:00:00Z
    let elements = Throughput::Elements(certs.len() as u64);
    println!("certificates: {}", certs.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(" "));

    let mut group = c.benchmark_group("parse");
    group.throughput(elements.clone());
    group.bench_function("certs", |b| {
        b.iter(|| {
            for (_, pem) in &certs {
                let _ = black_box(parse(black_box(pem)));
            }
        })
    });
    // One typical client certificate on its own, for context (huge-subject.pem weighs on the mean).
    if let Some((_, client)) = certs.iter().find(|(name, _)| name == "client.pem") {
        group.throughput(Throughput::Elements(1));
        group.bench_function("client.pem", |b| b.iter(|| black_box(parse(black_box(client)))));
    }
    group.finish();

    // The least any parse of these certificates does: PEM to DER, x509-parser's DER parse, the
    // SHA-256 that keys the edges' caches. No identity is built; it bounds how fast `parse` can get.
    let ders: Vec<Vec<u8>> = identities.iter().map(|identity| identity.der().to_vec()).collect();
    let pems: Vec<String> = identities.iter().map(Identity::pem).collect();
    let mut group = c.benchmark_group("floor");
    group.throughput(elements.clone());
    group.bench_function("pem_der_x509_sha256", |b| {
        b.iter(|| {
            for pem in &pems {
                black_box(floor(black_box(pem)));
            }
        })
    });
    group.bench_function("x509_parser_alone", |b| {
        b.iter(|| {
            for der in &ders {
                black_box(x509(black_box(der)));
            }
        })
    });
    group.finish();

    let configs: Vec<(&str, Config)> = CONFIGS
        .iter()
        .map(|(name, json)| (*name, Config::from_json(json).unwrap_or_else(|e| panic!("{name}: {e}"))))
        .collect();

    let mut group = c.benchmark_group("decide");
    group.throughput(elements.clone());
    for (name, config) in &configs {
        group.bench_function(*name, |b| {
            b.iter(|| {
                for identity in &identities {
                    black_box(decide(black_box(identity), config, now));
                }
            })
        });
    }
    group.finish();

    // Each certificate on its own, parse then decide with the aws-sample preset (what the Node
    // sample does per event): the mean over all of them hides how far apart they are.
    let mut group = c.benchmark_group("parse_decide_each");
    group.throughput(Throughput::Elements(1));
    if let Some((_, aws_sample)) = configs.iter().find(|(name, _)| *name == "aws-sample") {
        for (name, pem) in &certs {
            group.bench_function(name.as_str(), |b| {
                b.iter(|| {
                    if let Ok(identity) = parse(black_box(pem)) {
                        black_box(decide(&identity, aws_sample, now));
                    }
                })
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("parse_decide");
    group.throughput(elements);
    for (name, config) in configs.iter().filter(|(name, _)| matches!(*name, "default" | "aws-sample")) {
        group.bench_function(*name, |b| {
            b.iter(|| {
                for (_, pem) in &certs {
                    if let Ok(identity) = parse(black_box(pem)) {
                        black_box(decide(&identity, config, now));
                    }
                }
            })
        });
    }
    group.finish();
}

criterion_group!(core, benches);
criterion_main!(core);
