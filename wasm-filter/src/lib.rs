//! certprop as a proxy-wasm HTTP filter: Envoy (or Istio) has verified the client certificate in
//! the mTLS handshake; this filter turns it into identity headers for the backend, or refuses the
//! request.
//!
//! ```text
//! on_configure:  plugin configuration ──► certprop::Config::from_json ──► Rc<Config>
//!                (error: log it, return false: Envoy refuses the filter)
//!
//! per request:   connection.sha256_peer_certificate_digest ──► VerdictCache hit?
//!                   miss: connection.peer_certificate (PEM), else x-forwarded-client-cert Cert=
//!                         (read before it is stripped) ──► certprop::parse ──► Verdict::new
//!                remove Config::headers_to_strip (any case, every copy)
//!                verdict.decide(config, host time)
//!                   Allow { headers } ──► set each header, continue
//!                   Deny { reason }   ──► local 403 {"error":"forbidden","reason":"…"}
//! ```
//!
//! The filter holds no logic of its own beyond reading the host: every decision is the core's.
//! A certificate from `x-forwarded-client-cert` is used only when its SHA-256 equals the
//! connection's peer certificate digest, so a client cannot name a certificate it did not present.
//!
//! Start reading at [`Request::on_http_request_headers`]. [`metrics`] lists the counters, [`cache`]
//! the per-VM verdict cache, [`xfcc`] the header format.
//!
//! Every host call and copy is paid on every request, so a request whose certificate is in the
//! cache makes few: the digest, the time, one lookup per configured identity header (a client
//! rarely sends one; only then is the whole header list copied in, to count the copies) and the
//! headers set. Counters cost none: the root context hands their counts over on its tick. Debug
//! logs are formatted only where the host logs at debug: the filter reads the host's level in
//! `on_configure`, so a level changed later at run time applies from the next configuration.
//!
//! No request path panics: absent host data is `None`, and the core returns every failure as a
//! value. A panic in a proxy-wasm filter kills the VM and fails every later request. (The one
//! exception is the test-only feature `test-trap`, which panics on [`TRAP_HEADER`] so that tests
//! can check how Envoy fails; `make wasm-trap` builds it apart from the real filter.)

#![deny(unsafe_code)]

pub mod cache;
pub mod metrics;
pub mod xfcc;

use std::cell::RefCell;
use std::rc::Rc;

use certprop::{Config, Decision, DenyReason, Verdict};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

use crate::cache::{VerdictCache, Parsed};
use crate::metrics::Metrics;

const PEER_CERTIFICATE: [&str; 2] = ["connection", "peer_certificate"];
const PEER_CERTIFICATE_DIGEST: [&str; 2] = ["connection", "sha256_peer_certificate_digest"];
const XFCC: &str = "x-forwarded-client-cert";

// `main!` expands to the `_initialize` export, which must be `#[no_mangle]` and call the module's
// constructors: the only unsafe code in the crate, and it is the SDK's.
#[allow(unsafe_code)]
mod entry {
    proxy_wasm::main! {{
        proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Debug);
        proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
            Box::new(crate::Plugin::default())
        });
    }}
}

/// The root context: one per plugin per VM. Holds the parsed config, the verdict cache and the
/// counters, and hands them to each request.
#[derive(Default)]
pub struct Plugin {
    config: Option<Rc<Config>>,
    cache: Rc<RefCell<VerdictCache>>,
    metrics: Rc<Metrics>,
}

impl Context for Plugin {}

impl RootContext for Plugin {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        // Here rather than in on_vm_start, which Envoy calls only for the first plugin of a shared
        // VM; defining a counter again returns the same one.
        self.metrics.flush();
        self.metrics = Rc::new(Metrics::define());
        self.set_tick_period(metrics::FLUSH_PERIOD);
        // A debug log costs a format and a host call per request even where the host drops it.
        if let Ok(level) = proxy_wasm::hostcalls::get_log_level() {
            proxy_wasm::set_log_level(level);
        }
        let text = match self.get_plugin_configuration() {
            None => String::from("{}"),
            Some(bytes) => match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(_) => {
                    log::error!("certprop: plugin configuration is not UTF-8");
                    return false;
                }
            },
        };
        match Config::from_json(&text) {
            Ok(config) => {
                log::info!(
                    "certprop: configured: {} header(s) set on allow, {} stripped from every request",
                    config.headers().len(),
                    config.headers_to_strip().len()
                );
                self.config = Some(Rc::new(config));
                // Verdicts hold the old config's policy and headers.
                self.cache = Rc::default();
                true
            }
            Err(error) => {
                log::error!("certprop: bad plugin configuration: {error}");
                false
            }
        }
    }

    fn on_tick(&mut self) {
        self.metrics.flush();
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Request {
            config: self.config.clone(),
            cache: Rc::clone(&self.cache),
            metrics: Rc::clone(&self.metrics),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// One HTTP request.
pub struct Request {
    config: Option<Rc<Config>>,
    cache: Rc<RefCell<VerdictCache>>,
    metrics: Rc<Metrics>,
}

impl Context for Request {}

/// The request header that makes a `test-trap` build panic.
#[cfg(feature = "test-trap")]
pub const TRAP_HEADER: &str = "x-certprop-test-trap";

impl HttpContext for Request {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        #[cfg(feature = "test-trap")]
        self.trap_on_magic_header();
        let Some(config) = self.config.clone() else {
            // Envoy does not run a filter whose on_configure failed; refuse rather than pass unchecked.
            log::error!("certprop: request before a valid configuration; refusing it");
            self.send_http_response(503, vec![("content-type", "application/json")], Some(b"{\"error\":\"unavailable\"}"));
            return Action::Pause;
        };
        let certificate = self.client_certificate(&config);
        self.strip(&config);
        let decision = match certificate {
            None => certprop::decide_without_certificate(&config),
            Some(Parsed::Malformed) => Decision::Deny { reason: DenyReason::MalformedCertificate },
            Some(Parsed::Verdict(verdict)) => verdict.decide(&config, self.get_current_time()),
        };
        match decision {
            Decision::Allow { headers } => {
                log::debug!("certprop: allow, {} header(s) set", headers.len());
                self.metrics.allowed();
                for header in &headers {
                    self.set_http_request_header(&header.name, Some(&header.value));
                }
                Action::Continue
            }
            Decision::Deny { reason } => {
                log::debug!("certprop: deny: {reason}");
                self.metrics.denied(reason);
                let body = format!("{{\"error\":\"forbidden\",\"reason\":\"{reason}\"}}");
                self.send_http_response(403, vec![("content-type", "application/json")], Some(body.as_bytes()));
                Action::Pause
            }
        }
    }
}

impl Request {
    /// Panics (the VM traps) when the request has [`TRAP_HEADER`]: test builds only.
    #[cfg(feature = "test-trap")]
    #[allow(clippy::panic)]
    fn trap_on_magic_header(&self) {
        if self.get_http_request_header(TRAP_HEADER).is_some() {
            panic!("certprop test-trap build: {TRAP_HEADER} received");
        }
    }

    /// The verdict on this request's client certificate, `None` when it has none.
    fn client_certificate(&self, config: &Config) -> Option<Parsed> {
        let digest = self.property_text(&PEER_CERTIFICATE_DIGEST).filter(|d| !d.is_empty());
        if let Some(digest) = &digest {
            let cached = self.cache.try_borrow().ok().and_then(|cache| cache.get(digest));
            if let Some(parsed) = cached {
                log::debug!("certprop: certificate {} from cache", short(digest));
                self.metrics.cache_hit();
                return Some(parsed);
            }
            self.metrics.cache_miss();
        }
        let parsed = if let Some(pem) = self.get_property(PEER_CERTIFICATE.to_vec()).filter(|p| !p.is_empty()) {
            parse(&pem, config, None)?
        } else {
            let cert = self
                .get_http_request_headers_bytes()
                .iter()
                .rev()
                .filter(|(name, _)| name.eq_ignore_ascii_case(XFCC))
                .find_map(|(_, value)| std::str::from_utf8(value).ok())
                .and_then(xfcc::last_cert)?;
            let Some(digest) = &digest else {
                log::debug!("certprop: ignoring x-forwarded-client-cert: the connection has no client certificate");
                return None;
            };
            match parse(cert.as_bytes(), config, Some(digest))? {
                // Not cached: whoever wrote this header, it says nothing about the connection's certificate.
                Parsed::Malformed => return Some(Parsed::Malformed),
                verdict => verdict,
            }
        };
        if let (Some(digest), Ok(mut cache)) = (&digest, self.cache.try_borrow_mut()) {
            cache.insert(digest, parsed.clone());
        }
        Some(parsed)
    }

    /// Removes every copy, in any case, of the headers the config strips (the host matches names
    /// in any case and removes every copy). A configured identity header is looked up first: it is
    /// rarely there, and when it is, its copies count as spoofed. Other `strip` entries are removed
    /// without a look.
    fn strip(&self, config: &Config) {
        for name in config.headers_to_strip() {
            if config.headers().iter().any(|h| h.name.eq_ignore_ascii_case(name)) {
                if self.get_http_request_header_bytes(name).is_none() {
                    continue;
                }
                let request_headers = self.get_http_request_headers_bytes();
                let copies = request_headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count();
                for _ in 0..copies {
                    self.metrics.spoofed_header_stripped();
                }
                log::debug!("certprop: removing request header {name} ({copies} sent)");
            }
            self.remove_http_request_header(name);
        }
    }

    fn property_text(&self, path: &[&str]) -> Option<String> {
        self.get_property(path.to_vec()).and_then(|bytes| String::from_utf8(bytes).ok())
    }
}

/// The verdict on `certificate`. With `xfcc_digest` (a certificate from `x-forwarded-client-cert`),
/// `None` unless the certificate is the one whose SHA-256 the connection reports.
fn parse(certificate: &[u8], config: &Config, xfcc_digest: Option<&str>) -> Option<Parsed> {
    match certprop::parse(certificate) {
        Ok(identity) if xfcc_digest.is_some_and(|digest| !identity.sha256_hex().eq_ignore_ascii_case(digest)) => {
            log::debug!("certprop: ignoring x-forwarded-client-cert: not the connection's certificate");
            None
        }
        Ok(identity) => Some(Parsed::Verdict(Rc::new(Verdict::new(&identity, config)))),
        Err(error) => {
            log::debug!("certprop: cannot parse the client certificate: {error}");
            Some(Parsed::Malformed)
        }
    }
}

/// The first 16 hex digits of a digest, for debug logs.
fn short(digest: &str) -> &str {
    digest.get(..16).unwrap_or(digest)
}
