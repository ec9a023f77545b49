//! What the core concluded from each certificate one VM has seen, keyed by the connection's
//! SHA-256 certificate digest.
//!
//! Parsing is the expensive step (DER parse + SHA-256), and the policy and the header values depend
//! on the certificate and the config alone; every request on a connection, and every connection of
//! the same client, presents the same certificate. So the cache keeps the [`Verdict`] (the decision
//! but for the validity period and the signature, which the request's time settles), and a cached
//! request costs a digest lookup. A new configuration starts a new cache. The cache is bounded: when full,
//! the oldest entry goes (first in, first out), so a flood of distinct certificates costs memory
//! for at most [`CAPACITY`] of them.

use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use certprop::Verdict;

/// Most certificates kept per VM.
pub const CAPACITY: usize = 256;

/// What parsing a certificate gave.
#[derive(Clone, Debug)]
pub enum Parsed {
    /// The verdict for this certificate under the plugin's config, shared by every request that
    /// presents it.
    Verdict(Rc<Verdict>),
    /// The certificate could not be parsed (remembered, so it is not parsed again).
    Malformed,
}

/// A bounded map from certificate digest (lowercase hex) to [`Parsed`].
#[derive(Debug)]
pub struct VerdictCache {
    entries: BTreeMap<String, Parsed>,
    order: VecDeque<String>,
    capacity: usize,
}

impl Default for VerdictCache {
    fn default() -> Self {
        VerdictCache::with_capacity(CAPACITY)
    }
}

impl VerdictCache {
    /// An empty cache that keeps at most `capacity` entries (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        VerdictCache { entries: BTreeMap::new(), order: VecDeque::new(), capacity: capacity.max(1) }
    }

    /// The entry for this digest.
    pub fn get(&self, digest: &str) -> Option<Parsed> {
        // Envoy's digest is lowercase already: looked up without a copy.
        if digest.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.entries.get(&digest.to_ascii_lowercase()).cloned();
        }
        self.entries.get(digest).cloned()
    }

    /// Remembers `parsed` for `digest`, evicting the oldest entry when full.
    pub fn insert(&mut self, digest: &str, parsed: Parsed) {
        let digest = digest.to_ascii_lowercase();
        if self.entries.insert(digest.clone(), parsed).is_some() {
            return;
        }
        self.order.push_back(digest);
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.entries.remove(&oldest);
            }
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::{VerdictCache, Parsed};

    #[test]
    fn bounded_first_in_first_out() {
        let mut cache = VerdictCache::with_capacity(2);
        cache.insert("AA", Parsed::Malformed);
        cache.insert("bb", Parsed::Malformed);
        cache.insert("aa", Parsed::Malformed);
        assert_eq!(cache.len(), 2);
        cache.insert("cc", Parsed::Malformed);
        assert_eq!(cache.len(), 2);
        assert!(cache.get("aa").is_none());
        assert!(cache.get("BB").is_some());
        assert!(cache.get("cc").is_some());
    }
}
