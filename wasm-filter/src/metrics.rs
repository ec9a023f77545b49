//! The filter's counters, proxy-wasm metrics that Envoy shows in `/stats` (with its own prefix,
//! `wasmcustom.` in Envoy 1.40):
//!
//! | counter | counts |
//! |---|---|
//! | `certprop.allowed` | requests passed on with identity headers |
//! | `certprop.denied` | requests refused (403), all reasons |
//! | `certprop.denied.<reason>` | requests refused for one [`DenyReason`] (`expired`, `policy_denied`, …) |
//! | `certprop.cache_hit` / `certprop.cache_miss` | verdict cache lookups by certificate digest |
//! | `certprop.spoofed_header_stripped` | copies of configured identity headers that a request arrived with |
//!
//! A counter that the host refused to define is skipped; counting never fails a request.

use certprop::DenyReason;
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

/// Counter ids, `None` where the host refused one (or before `on_configure`).
#[derive(Debug, Default)]
pub struct Metrics {
    allowed: Option<u32>,
    denied: Option<u32>,
    denied_by_reason: Vec<(DenyReason, Option<u32>)>,
    cache_hit: Option<u32>,
    cache_miss: Option<u32>,
    spoofed_header_stripped: Option<u32>,
}

fn counter(name: &str) -> Option<u32> {
    match hostcalls::define_metric(MetricType::Counter, name) {
        Ok(id) => Some(id),
        Err(status) => {
            log::warn!("certprop: cannot define counter {name}: {status:?}");
            None
        }
    }
}

fn increment(id: Option<u32>) {
    if let Some(id) = id {
        // A failed increment is not worth failing a request for.
        let _ = hostcalls::increment_metric(id, 1);
    }
}

impl Metrics {
    /// Defines every counter with the host.
    pub fn define() -> Self {
        Metrics {
            allowed: counter("certprop.allowed"),
            denied: counter("certprop.denied"),
            denied_by_reason: DenyReason::ALL
                .iter()
                .map(|&reason| (reason, counter(&format!("certprop.denied.{reason}"))))
                .collect(),
            cache_hit: counter("certprop.cache_hit"),
            cache_miss: counter("certprop.cache_miss"),
            spoofed_header_stripped: counter("certprop.spoofed_header_stripped"),
        }
    }

    /// One request allowed.
    pub fn allowed(&self) {
        increment(self.allowed);
    }

    /// One request denied.
    pub fn denied(&self, reason: DenyReason) {
        increment(self.denied);
        increment(self.denied_by_reason.iter().find(|(r, _)| *r == reason).and_then(|(_, id)| *id));
    }

    /// The identity came from the cache.
    pub fn cache_hit(&self) {
        increment(self.cache_hit);
    }

    /// The certificate had to be fetched and parsed.
    pub fn cache_miss(&self) {
        increment(self.cache_miss);
    }

    /// A request arrived with its own copy of an identity header.
    pub fn spoofed_header_stripped(&self) {
        increment(self.spoofed_header_stripped);
    }
}
