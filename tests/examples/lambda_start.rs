//! Lambda start, for `make bench`: the built `certprop-authorizer` and `node` running the AWS
//! sample's handler (`bench/node-runtime.mjs`), each started fresh under the same local Runtime
//! API with the same event waiting, several times, alternating.
//!
//! ```text
//!  spawn ──► … ──► GET /runtime/invocation/next ──► handler ──► POST …/{id}/response
//!  t = 0           first request                                first response
//! ```
//!
//! `cargo run --release -p certprop-tests --example lambda_start -- [RUNS]` prints one JSON
//! object: per runtime, the milliseconds from spawn to the first request and to the first
//! response, each run and the median. The first request is seen by polling the Runtime API
//! every 50 µs, so it is late by up to that much; a run where the poller did not get to run
//! before the answer has no first-request time (`runs` lists the runs that have one).

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use certprop_tests::authorizer::{lambda_command, rest_event};
use certprop_tests::runtime_api::{Invocation, RuntimeApi};
use certprop_tests::{artifact, repo_root};
use serde_json::{json, Value};

/// The config both runtimes decide with: the sample's own header, so the answers compare.
const CONFIG: &str = r#"{"preset":"aws-sample"}"#;

struct Start {
    /// `None` when the watcher did not run between the first request and the answer.
    first_request_ms: Option<f64>,
    first_response_ms: f64,
    answer: Value,
}

/// Spawns `program args` as a Lambda function against a fresh Runtime API with `event` queued.
fn start_once(program: &str, args: &[String], event: &Value) -> Start {
    let api = RuntimeApi::start().unwrap_or_else(|e| panic!("runtime API: {e}"));
    let asked = AtomicBool::new(false);
    let mut first_request = None;
    let started = Instant::now();
    let mut child = lambda_command(program.as_ref(), &api, CONFIG)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let invocation = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut was_answered = false;
            // Checked once more after the answer: a watcher that the scheduler left asleep through
            // the whole start reports no time rather than a late one.
            while !was_answered {
                was_answered = asked.load(Ordering::Relaxed);
                if api.next_calls() > 0 {
                    return (!was_answered).then(|| started.elapsed());
                }
                std::thread::sleep(Duration::from_micros(50));
            }
            None
        });
        let invocation = api.invoke(event, Duration::from_secs(30));
        let first_response = started.elapsed();
        asked.store(true, Ordering::Relaxed);
        first_request = watcher.join().unwrap_or(None);
        invocation.map(|invocation| (invocation, first_response))
    });
    let _ = child.kill();
    let _ = child.wait();
    let (invocation, first_response) = invocation.unwrap_or_else(|message| panic!("{program}: {message}"));
    let answer = match invocation {
        Invocation::Response(response) => response,
        Invocation::Error { body, .. } => panic!("{program} answered an error: {body}"),
    };
    Start {
        first_request_ms: first_request.map(|at: Duration| at.as_secs_f64() * 1e3),
        first_response_ms: first_response.as_secs_f64() * 1e3,
        answer,
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 0 {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    }
}

fn summary(starts: &[Start]) -> Value {
    let request: Vec<f64> = starts.iter().filter_map(|s| s.first_request_ms).collect();
    let response: Vec<f64> = starts.iter().map(|s| s.first_response_ms).collect();
    json!({
        "first_request_ms": {"median": (!request.is_empty()).then(|| median(&request)), "runs": request},
        "first_response_ms": {"median": median(&response), "runs": response},
    })
}

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(10).max(1);
    let authorizer = artifact("release/certprop-authorizer", "cargo build --release -p certprop-authorizer");
    let authorizer = authorizer.to_string_lossy().into_owned();
    let node_script = repo_root().join("bench/node-runtime.mjs").to_string_lossy().into_owned();
    let pem = std::fs::read_to_string(repo_root().join("certs/client.pem")).unwrap_or_else(|e| panic!("certs/client.pem: {e}"));
    let event = rest_event(Some(&pem));

    let (mut rust, mut node) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        rust.push(start_once(&authorizer, &[], &event));
        node.push(start_once("node", std::slice::from_ref(&node_script), &event));
    }
    let (rust_principal, node_principal) = (&rust[0].answer["principalId"], &node[0].answer["principalId"]);
    assert_eq!(rust_principal, node_principal, "the two runtimes answered different principals");
    let report = json!({
        "runs": runs,
        "event": "REST API REQUEST authorizer event, certs/client.pem",
        "config": CONFIG,
        "certprop_authorizer": summary(&rust),
        "node_sample": summary(&node),
        "principal_id": rust_principal,
    });
    println!("{report}");
}
