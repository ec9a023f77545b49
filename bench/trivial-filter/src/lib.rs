//! The least a proxy-wasm HTTP filter does: set one request header, with no other host call.
//!
//! ```text
//! on_http_request_headers ──► set_http_request_header("x-bench-trivial", "1") ──► continue
//! ```
//!
//! With the plugin configuration `read-digest` it first reads the client certificate's digest
//! (`connection.sha256_peer_certificate_digest`, one `get_property`): the least that any filter
//! which looks at the client certificate does on every request, and so the floor for certprop.
//!
//! `make bench` loads `target/wasm32-wasip1/release/certprop_bench_trivial_filter.wasm` into
//! Envoy beside `certprop_filter.wasm`. Both are built with the same release profile (see the
//! root `Cargo.toml`), so the difference between their throughputs is certprop's own work: the
//! cost of entering a wasm filter at all is in both.

#![deny(unsafe_code)]

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

// `main!` expands to the `_initialize` export, which must be `#[no_mangle]`: the SDK's unsafe code.
#[allow(unsafe_code)]
mod entry {
    proxy_wasm::main! {{
        proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> { Box::new(crate::Plugin::default()) });
    }}
}

/// The root context: makes a [`SetHeader`] per request.
#[derive(Default)]
struct Plugin {
    read_digest: bool,
}

impl Context for Plugin {}

impl RootContext for Plugin {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        self.read_digest = self.get_plugin_configuration().is_some_and(|c| c == b"read-digest");
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(SetHeader { read_digest: self.read_digest }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// One request: one header set, after one property read if `read_digest`.
struct SetHeader {
    read_digest: bool,
}

impl Context for SetHeader {}

impl HttpContext for SetHeader {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if self.read_digest {
            let digest = self.get_property(vec!["connection", "sha256_peer_certificate_digest"]);
            std::hint::black_box(digest);
        }
        self.set_http_request_header("x-bench-trivial", Some("1"));
        Action::Continue
    }
}
