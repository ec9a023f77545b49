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
//! Counting costs no host call on a request: each request adds to counts held in the filter,
//! and the root context hands them to the host on its tick, every [`FLUSH_PERIOD`]. Envoy's
//! `/stats` therefore shows a request's counts up to that long after it; a count not yet handed
//! over when the filter's VM goes away is lost.
//!
//! A counter that the host refused to define is skipped; counting never fails a request.

use std::cell::Cell;
use std::time::Duration;

use certprop::DenyReason;
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

/// How often the counts reach the host.
pub const FLUSH_PERIOD: Duration = Duration::from_millis(250);

/// One counter: its host id (`None` where the host refused it, or before `on_configure`) and
/// the count not yet handed to the host.
#[derive(Debug, Default)]
struct Counter {
    id: Option<u32>,
    pending: Cell<u64>,
}

impl Counter {
    fn define(name: &str) -> Self {
        let id = match hostcalls::define_metric(MetricType::Counter, name) {
            Ok(id) => Some(id),
            Err(status) => {
                log::warn!("certprop: cannot define counter {name}: {status:?}");
                None
            }
        };
        Counter { id, pending: Cell::new(0) }
    }

    fn add(&self) {
        self.pending.set(self.pending.get().saturating_add(1));
    }

    fn flush(&self) {
        let count = self.pending.take();
        if let (Some(id), true) = (self.id, count > 0) {
            // A failed increment is not worth failing anything for.
            let _ = hostcalls::increment_metric(id, i64::try_from(count).unwrap_or(i64::MAX));
        }
    }
}

/// The filter's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    allowed: Counter,
    denied: Counter,
    denied_by_reason: Vec<(DenyReason, Counter)>,
    cache_hit: Counter,
    cache_miss: Counter,
    spoofed_header_stripped: Counter,
}

impl Metrics {
    /// Defines every counter with the host.
    pub fn define() -> Self {
        Metrics {
            allowed: Counter::define("certprop.allowed"),
            denied: Counter::define("certprop.denied"),
            denied_by_reason: DenyReason::ALL
                .iter()
                .map(|&reason| (reason, Counter::define(&format!("certprop.denied.{reason}"))))
                .collect(),
            cache_hit: Counter::define("certprop.cache_hit"),
            cache_miss: Counter::define("certprop.cache_miss"),
            spoofed_header_stripped: Counter::define("certprop.spoofed_header_stripped"),
        }
    }

    /// Hands every count so far to the host.
    pub fn flush(&self) {
        let by_reason = self.denied_by_reason.iter().map(|(_, counter)| counter);
        let all = [&self.allowed, &self.denied, &self.cache_hit, &self.cache_miss, &self.spoofed_header_stripped];
        for counter in all.into_iter().chain(by_reason) {
            counter.flush();
        }
    }

    /// One request allowed.
    pub fn allowed(&self) {
        self.allowed.add();
    }

    /// One request denied.
    pub fn denied(&self, reason: DenyReason) {
        self.denied.add();
        if let Some((_, counter)) = self.denied_by_reason.iter().find(|(r, _)| *r == reason) {
            counter.add();
        }
    }

    /// The identity came from the cache.
    pub fn cache_hit(&self) {
        self.cache_hit.add();
    }

    /// The certificate had to be fetched and parsed.
    pub fn cache_miss(&self) {
        self.cache_miss.add();
    }

    /// A request arrived with its own copy of an identity header.
    pub fn spoofed_header_stripped(&self) {
        self.spoofed_header_stripped.add();
    }
}
