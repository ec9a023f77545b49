//! The soak: Envoy with the filter under mixed mTLS traffic on localhost for `SOAK_SECONDS`
//! (default 300): allowed clients, denied ones (expired, not yet valid, a subject too large for a
//! header), and connections without a certificate, each request with forged identity headers,
//! one to three requests per connection. Every response must be the expected one (the trusted
//! headers at the backend, or the 403 with the expected reason), and Envoy's RSS must stay within
//! 5% of what it was after the warm-up (the first tenth of the run).
//!
//! Not part of `make test`: run it with `make soak` (`SOAK_SECONDS=60 make soak` for a short one).
//! It prints the figures: requests, connections, unexpected responses, RSS.

use std::sync::Arc;
use std::time::{Duration, Instant};

use certprop::Config;
use certprop_tests::envoy::{counter_in, started, Envoy, EnvoyConfig, Response};
use certprop_tests::mtls_client::{ClientCertificate, MtlsClient};
use certprop_tests::{core_headers_for, repo_root};

const WORKERS: usize = 2;
const FORGED: [(&str, &str); 3] =
    [("X-Client-Cert-Sub", "Q049YWRtaW4="), ("x-client-cert-sha256", "00"), ("X-Forwarded-Client-Cert", "Hash=00")];

/// What a kind of connection must get.
#[derive(Clone, Debug, PartialEq)]
enum Expect {
    /// 200, and the backend saw exactly these identity headers.
    Allow(Vec<(String, String)>),
    /// 403 with this reason.
    Deny(String),
}

struct Kind {
    name: &'static str,
    client: MtlsClient,
    expect: Expect,
}

#[derive(Default)]
struct Tally {
    requests: u64,
    connections: u64,
    allowed: u64,
    denied: u64,
    without_certificate: u64,
    unexpected: Vec<String>,
}

fn expectation(name: Option<&str>, config: &Config) -> Expect {
    match core_headers_for(name, config) {
        Ok(headers) => Expect::Allow(headers),
        Err(reason) => Expect::Deny(reason.as_str().to_owned()),
    }
}

fn check(response: &Response, expect: &Expect, strip: &[String]) -> Result<(), String> {
    match expect {
        Expect::Deny(reason) => {
            let body = serde_json::json!({"error": "forbidden", "reason": reason}).to_string();
            if response.status == 403
                && serde_json::from_str::<serde_json::Value>(&response.body).ok() == serde_json::from_str(&body).ok()
            {
                return Ok(());
            }
        }
        Expect::Allow(headers) => {
            if response.status == 200 {
                let mut got: Vec<(String, String)> =
                    response.backend_header_list().into_iter().filter(|(name, _)| strip.contains(name)).collect();
                got.sort();
                if &got == headers {
                    return Ok(());
                }
                return Err(format!("identity headers {got:?}"));
            }
        }
    }
    Err(format!("status {} body {:?} error {:?}", response.status, response.body, response.error))
}

fn worker(index: usize, kinds: Arc<Vec<Kind>>, strip: Arc<Vec<String>>, until: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut turn = index;
    while Instant::now() < until {
        let kind = &kinds[turn % kinds.len()];
        let per_connection = 1 + (turn / kinds.len()) % 3;
        turn += 1;
        tally.connections += 1;
        let mut connection = match kind.client.connect() {
            Ok(connection) => connection,
            Err(error) => {
                tally.unexpected.push(format!("{}: connect: {error}", kind.name));
                continue;
            }
        };
        for _ in 0..per_connection {
            tally.requests += 1;
            let result = connection.get("/soak", &FORGED).and_then(|response| check(&response, &kind.expect, &strip));
            match (result, &kind.expect) {
                (Err(error), _) => tally.unexpected.push(format!("{}: {error}", kind.name)),
                (Ok(()), Expect::Allow(_)) => tally.allowed += 1,
                (Ok(()), Expect::Deny(reason)) if reason == "missing_certificate" => tally.without_certificate += 1,
                (Ok(()), Expect::Deny(_)) => tally.denied += 1,
            }
        }
    }
    tally
}

fn soak_seconds() -> u64 {
    match std::env::var("SOAK_SECONDS") {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| panic!("SOAK_SECONDS={text:?} is not a number of seconds")),
        Err(_) => 300,
    }
}

fn kinds(envoy: &Envoy, config: &Config) -> Vec<Kind> {
    let named = |name: &'static str| Kind {
        name,
        client: MtlsClient::new(envoy.listener(), Some(&ClientCertificate::named(name))),
        expect: expectation(Some(name), config),
    };
    let kinds = vec![
        named("client"),
        named("expired"),
        named("client-b"),
        Kind {
            name: "no certificate",
            client: MtlsClient::new(envoy.listener(), None),
            expect: expectation(None, config),
        },
        named("spiffe"),
        named("huge-subject"),
        named("unicode"),
        named("not-yet-valid"),
        named("hostile-crlf"),
        Kind {
            name: "no certificate",
            client: MtlsClient::new(envoy.listener(), None),
            expect: expectation(None, config),
        },
    ];
    let denied = kinds.iter().filter(|k| matches!(&k.expect, Expect::Deny(r) if r != "missing_certificate")).count();
    assert!(denied >= 3, "a mix: {denied} denied kinds");
    kinds
}

#[test]
#[ignore = "minutes long: run it with `make soak`"]
fn envoy_under_a_bounded_soak_answers_as_expected_with_flat_memory() {
    let seconds = soak_seconds();
    let shipped = repo_root().join("envoy/certprop.json");
    let config_text = std::fs::read_to_string(&shipped).expect("envoy/certprop.json");
    let config = Config::from_json(&config_text).expect("valid");
    let envoy = started(EnvoyConfig::shipped().allow_expired_certificates().client_certificate_optional());
    let strip = Arc::new(config.headers_to_strip().iter().map(|n| n.to_ascii_lowercase()).collect::<Vec<_>>());
    let kinds = Arc::new(kinds(&envoy, &config));

    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let warm_up = Duration::from_secs(seconds / 10);
    let workers: Vec<_> = (0..WORKERS)
        .map(|index| {
            let (kinds, strip) = (Arc::clone(&kinds), Arc::clone(&strip));
            std::thread::spawn(move || worker(index, kinds, strip, until))
        })
        .collect();
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    while Instant::now() < until {
        std::thread::sleep(Duration::from_secs(1).min(until.saturating_duration_since(Instant::now())));
        samples.push((start.elapsed(), envoy.rss_kib()));
    }
    let tallies: Vec<Tally> = workers.into_iter().map(|w| w.join().expect("a worker panicked")).collect();
    let end_rss = envoy.rss_kib();

    let sum = |f: fn(&Tally) -> u64| tallies.iter().map(f).sum::<u64>();
    let unexpected: Vec<&String> = tallies.iter().flat_map(|t| &t.unexpected).collect();
    let after_warm_up: Vec<u64> = samples.iter().filter(|(t, _)| *t >= warm_up).map(|(_, rss)| *rss).collect();
    let warm_rss = *after_warm_up.first().expect("RSS samples after the warm-up");
    let max_rss = after_warm_up.iter().copied().max().unwrap_or(warm_rss);
    let growth = |rss: u64| (rss as f64 - warm_rss as f64) * 100.0 / warm_rss as f64;
    println!(
        "soak: {seconds} s, {WORKERS} workers: {} requests on {} connections: {} allowed, {} denied, {} without a certificate; {} unexpected",
        sum(|t| t.requests),
        sum(|t| t.connections),
        sum(|t| t.allowed),
        sum(|t| t.denied),
        sum(|t| t.without_certificate),
        unexpected.len()
    );
    println!(
        "soak: Envoy RSS {} KiB after the {} s warm-up, {} KiB at the end ({:+.2}%), at most {} KiB ({:+.2}%)",
        warm_rss,
        warm_up.as_secs(),
        end_rss,
        growth(end_rss),
        max_rss,
        growth(max_rss)
    );
    let counters = envoy.filter_counters();
    println!("soak: filter counters {counters:?}");
    // Counts wait in the filter for its tick: none may be lost on the way to Envoy.
    let allowed = counter_in(&counters, "wasmcustom.certprop.allowed");
    assert!(allowed >= sum(|t| t.allowed), "the filter counted {allowed} allowed, the clients saw {}", sum(|t| t.allowed));
    assert!(
        unexpected.is_empty(),
        "{} unexpected responses, the first: {:?}",
        unexpected.len(),
        &unexpected[..unexpected.len().min(5)]
    );
    assert!(sum(|t| t.allowed) > 0 && sum(|t| t.denied) > 0 && sum(|t| t.without_certificate) > 0, "a mix of outcomes");
    assert!(growth(max_rss) <= 5.0, "Envoy's RSS grew {:.2}% after the warm-up", growth(max_rss));
}
