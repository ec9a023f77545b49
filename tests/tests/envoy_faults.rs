//! Faults at the Envoy edge: the filter's VM traps. A test-only build of the filter
//! (`make wasm-trap`: feature `test-trap`, in target/trap) panics when a request carries
//! `x-certprop-test-trap`; without that header it is the real filter. What Envoy 1.40 does then
//! depends on the filter's `failure_policy`, and this is what it does (envoy/README.md):
//!
//! ```text
//!                  the trapping request   later requests
//! FAIL_RELOAD      503, backend not hit   503 during the reload backoff, then the reloaded VM:
//!  (shipped)                              trusted headers again
//! FAIL_CLOSED      503, backend not hit   503 for good (until Envoy restarts or is reconfigured)
//! FAIL_OPEN        503, backend not hit   the filter is skipped: forged identity headers reach
//!                                         the backend (never use it for this filter)
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use certprop_tests::artifact;
use certprop_tests::envoy::{started, Envoy, EnvoyConfig, Response};
use certprop_tests::mtls_client::{ClientCertificate, MtlsClient};

const TRAP_HEADER: (&str, &str) = ("x-certprop-test-trap", "1");
const FORGED: (&str, &str) = ("X-Client-Cert-Sub", "Q049YWRtaW4=");

fn trap_filter() -> PathBuf {
    artifact("trap/wasm32-wasip1/release/certprop_filter.wasm", "make wasm-trap")
}

/// Envoy with the trap build and this failure policy, and a client with certs/client.pem.
fn envoy_with(policy: Option<&str>) -> (Envoy, MtlsClient) {
    let mut config = EnvoyConfig::shipped().filter(&trap_filter());
    if let Some(policy) = policy {
        config = config.failure_policy(policy);
    }
    let envoy = started(config);
    let client = MtlsClient::new(envoy.listener(), Some(&ClientCertificate::named("client")));
    (envoy, client)
}

fn forged_request(client: &MtlsClient) -> Response {
    client.get("/", &[FORGED])
}

/// The trusted subject header, and nothing forged, reached the backend.
fn assert_trusted(what: &str, response: &Response) {
    let sub = response.backend_header("x-client-cert-sub");
    assert_eq!(sub.len(), 1, "{what}: {sub:?}");
    assert_ne!(sub[0], FORGED.1, "{what}: the forged value reached the backend");
}

/// A request with the magic header: the VM traps, the request fails closed without reaching
/// the backend, and Envoy logs the panic.
fn trap(what: &str, envoy: &Envoy, client: &MtlsClient) {
    assert_trusted(&format!("{what}: before the trap"), &forged_request(client));
    let backend_before = envoy.backend_requests();
    let trapped = client.get("/", &[TRAP_HEADER, FORGED]);
    assert_eq!(trapped.status, 503, "{what}: the trapping request: {trapped:?}");
    assert_eq!(envoy.backend_requests(), backend_before, "{what}: the trapping request reached the backend");
    let log = envoy.log_text();
    assert!(
        log.contains("certprop test-trap build: x-certprop-test-trap received"),
        "{what}: no panic in the log:\n{log}"
    );
    assert!(log.contains("Function: proxy_on_request_headers failed"), "{what}: no trap in the log:\n{log}");
}

#[test]
fn a_trap_fails_closed_and_the_shipped_fail_reload_recovers_where_fail_closed_does_not() {
    let (reload, reload_client) = envoy_with(None);
    let (closed, closed_client) = envoy_with(Some("FAIL_CLOSED"));
    trap("FAIL_RELOAD", &reload, &reload_client);
    trap("FAIL_CLOSED", &closed, &closed_client);
    let closed_backend = closed.backend_requests();

    // Until Envoy has reloaded the VM (after its backoff), requests fail closed; then they pass
    // with the trusted headers. FAIL_CLOSED answers 503 all along.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut refused_while_reloading = 0;
    loop {
        let response = forged_request(&reload_client);
        let still_closed = forged_request(&closed_client);
        assert_eq!(still_closed.status, 503, "FAIL_CLOSED after the trap: {still_closed:?}");
        if response.status == 200 {
            assert_trusted("FAIL_RELOAD after the reload", &response);
            break;
        }
        assert_eq!(response.status, 503, "FAIL_RELOAD while reloading: {response:?}");
        refused_while_reloading += 1;
        assert!(Instant::now() < deadline, "FAIL_RELOAD: no reload within 60 s; log:\n{}", reload.log_text());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(reload.stat("wasm.certprop.vm_reload_success"), 1);
    assert_trusted("FAIL_RELOAD, the next request", &forged_request(&reload_client));
    let still_closed = forged_request(&closed_client);
    assert_eq!(still_closed.status, 503, "FAIL_CLOSED after FAIL_RELOAD recovered: {still_closed:?}");
    assert_eq!(closed.stat("wasm.certprop.vm_reload_success"), 0);
    assert_eq!(closed.backend_requests(), closed_backend, "FAIL_CLOSED let a request through");
    eprintln!("FAIL_RELOAD: {refused_while_reloading} request(s) refused during the reload backoff, then served");
}

#[test]
fn fail_open_skips_the_filter_after_a_trap_so_forged_headers_reach_the_backend() {
    let (envoy, client) = envoy_with(Some("FAIL_OPEN"));
    trap("FAIL_OPEN", &envoy, &client);
    let response = forged_request(&client);
    assert_eq!(
        response.backend_header("x-client-cert-sub"),
        [FORGED.1],
        "FAIL_OPEN: the backend got the forged header"
    );
}
