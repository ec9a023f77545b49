//! A proxy-wasm host on wasmtime, for testing the built `certprop_filter.wasm` without Envoy.
//!
//! ```text
//! FilterHost::new()                     one wasmtime Store (all host state lives in it), filter instantiated
//!   .plugin_config(json)                buffer type 7, read by the filter's on_configure
//!   .peer_certificate(pem)              connection.peer_certificate + connection.sha256_peer_certificate_digest
//!   .start()                            proxy_on_vm_start, proxy_on_configure (assert it accepted the config)
//! host.request().header(k, v).send()    proxy_on_context_create, proxy_on_request_headers, proxy_on_done, …
//!   ──► Outcome: action, request headers after the filter, local response, property reads, logs
//! host.counter("certprop.allowed")      proxy_on_tick (the filter hands its counts over), then the
//!                                       metric the filter defined and incremented
//! ```
//!
//! There are no globals holding state: each test makes its own [`FilterHost`]. The compiled module
//! is shared between tests (compiling is the slow part, and a compiled module is immutable).
//! The ABI itself (imports, memory, encodings) is in [`abi`].

pub mod abi;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::SystemTime;

use sha2::{Digest as _, Sha256};
use wasmtime::{Config, Engine, Instance, Linker, Module, Store};

/// Where `make test` (and `cargo build --release --target wasm32-wasip1 -p certprop-filter`)
/// puts the filter.
pub const FILTER_WASM: &str = "wasm32-wasip1/release/certprop_filter.wasm";
/// How to build it.
pub const BUILD_FILTER: &str = "cargo build --release --target wasm32-wasip1 -p certprop-filter";

/// The path of the built filter, or a panic that says how to build it.
pub fn filter_wasm() -> PathBuf {
    crate::artifact(FILTER_WASM, BUILD_FILTER)
}

/// proxy-wasm log levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// 0
    Trace,
    /// 1
    Debug,
    /// 2
    Info,
    /// 3
    Warn,
    /// 4
    Error,
    /// 5 (and anything unknown)
    Critical,
}

impl LogLevel {
    fn from_abi(level: i32) -> Self {
        match level {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            _ => LogLevel::Critical,
        }
    }
}

/// One `proxy_log` call.
#[derive(Clone, Debug)]
pub struct LogRecord {
    /// Level.
    pub level: LogLevel,
    /// Text.
    pub message: String,
}

/// One metric the filter defined.
#[derive(Clone, Debug)]
pub struct Metric {
    /// Name as defined.
    pub name: String,
    /// 0 counter, 1 gauge, 2 histogram.
    pub kind: i32,
    /// Current value.
    pub value: u64,
}

/// A response the filter sent instead of forwarding the request.
#[derive(Clone, Debug)]
pub struct LocalResponse {
    /// HTTP status.
    pub status: u32,
    /// Response code details.
    pub details: String,
    /// Body.
    pub body: Vec<u8>,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// gRPC status (-1 for none).
    pub grpc_status: i32,
}

impl LocalResponse {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("local response body is not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
}

/// A header map as the host keeps it: (name, value) bytes in order, copies allowed.
pub type HeaderMap = Vec<(Vec<u8>, Vec<u8>)>;

/// Everything the host knows; one per `Store`.
#[derive(Default)]
pub struct HostState {
    plugin_configuration: Vec<u8>,
    properties: BTreeMap<Vec<u8>, Vec<u8>>,
    now: Option<SystemTime>,
    header_maps: BTreeMap<i32, HeaderMap>,
    local_response: Option<LocalResponse>,
    logs: Vec<LogRecord>,
    metrics: Vec<Metric>,
    property_reads: Vec<String>,
    removed_headers: Vec<String>,
    unsupported_calls: Vec<String>,
    wasi_output: Vec<(i32, String)>,
    effective_context: u32,
    tick_period_ms: u32,
}

impl HostState {
    fn header_map(&self, map_type: i32) -> &[(Vec<u8>, Vec<u8>)] {
        self.header_maps.get(&map_type).map_or(&[], Vec::as_slice)
    }

    fn header_map_mut(&mut self, map_type: i32) -> &mut HeaderMap {
        self.header_maps.entry(map_type).or_default()
    }

    fn now(&self) -> SystemTime {
        self.now.unwrap_or_else(SystemTime::now)
    }
}

/// Header map type of the request headers.
const REQUEST_HEADERS: i32 = 0;
const ROOT_CONTEXT_ID: u32 = 1;

fn compiled_filter() -> &'static (Engine, Module) {
    static COMPILED: OnceLock<(Engine, Module)> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let path = filter_wasm();
        let mut config = Config::new();
        config.cranelift_opt_level(wasmtime::OptLevel::None);
        let engine = Engine::new(&config).unwrap_or_else(|e| panic!("wasmtime engine: {e:#}"));
        let module = Module::from_file(&engine, &path).unwrap_or_else(|e| panic!("compile {}: {e:#}", path.display()));
        (engine, module)
    })
}

/// The built filter in its own wasmtime store: a VM with one root context.
pub struct FilterHost {
    store: Store<HostState>,
    instance: Instance,
    next_context_id: u32,
    started: bool,
}

impl FilterHost {
    /// Loads and instantiates the built filter (runs `_initialize`). Panics with a build hint if
    /// the `.wasm` is missing.
    pub fn new() -> Self {
        let (engine, module) = compiled_filter();
        let mut store = Store::new(engine, HostState::default());
        let mut linker = Linker::new(engine);
        abi::define(&mut linker, module, &mut store).unwrap_or_else(|e| panic!("define imports: {e:#}"));
        let instance = linker.instantiate(&mut store, module).unwrap_or_else(|e| panic!("instantiate: {e:#}"));
        let mut host = FilterHost { store, instance, next_context_id: ROOT_CONTEXT_ID + 1, started: false };
        host.call::<(), ()>("_initialize", ());
        host
    }

    fn call<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(&mut self, name: &str, params: P) -> R {
        self.try_call(name, params).unwrap_or_else(|e| {
            panic!("{name} trapped: {e:#}\nfilter logs: {:#?}", self.store.data().logs)
        })
    }

    fn try_call<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(&mut self, name: &str, params: P) -> wasmtime::Result<R> {
        let func = self.instance.get_typed_func::<P, R>(&mut self.store, name)?;
        func.call(&mut self.store, params)
    }

    /// The plugin configuration (buffer type 7) `on_configure` will read.
    pub fn plugin_config(mut self, config: &str) -> Self {
        self.store.data_mut().plugin_configuration = config.as_bytes().to_vec();
        self
    }

    /// The plugin configuration as raw bytes (not UTF-8, say).
    pub fn plugin_config_bytes(mut self, config: &[u8]) -> Self {
        self.store.data_mut().plugin_configuration = config.to_vec();
        self
    }

    /// Sets a property, as Envoy would for the current connection.
    pub fn property(mut self, path: &[&str], value: impl Into<Vec<u8>>) -> Self {
        self.set_property(path, value);
        self
    }

    /// Sets a property.
    pub fn set_property(&mut self, path: &[&str], value: impl Into<Vec<u8>>) {
        self.store.data_mut().properties.insert(path.join("\0").into_bytes(), value.into());
    }

    /// Removes a property (reads of it come back NotFound).
    pub fn remove_property(&mut self, path: &[&str]) {
        self.store.data_mut().properties.remove(path.join("\0").as_bytes());
    }

    /// The client presented this certificate (PEM): sets `connection.peer_certificate` and
    /// `connection.sha256_peer_certificate_digest` as Envoy 1.40 does.
    pub fn peer_certificate(mut self, pem: &[u8]) -> Self {
        self.set_peer_certificate(pem);
        self
    }

    /// As [`FilterHost::peer_certificate`], on a started host (a new connection).
    pub fn set_peer_certificate(&mut self, pem: &[u8]) {
        self.set_property(&["connection", "peer_certificate"], pem);
        self.set_connection_digest_of(pem);
    }

    /// Sets only `connection.sha256_peer_certificate_digest` (an older Envoy, which has no
    /// `peer_certificate` property, still has the digest).
    pub fn set_connection_digest_of(&mut self, pem: &[u8]) {
        let digest = certprop::parse(pem).map(|identity| identity.sha256_hex()).unwrap_or_else(|_| {
            // Not a certificate the core can parse: the SHA-256 of its bytes stands in.
            Sha256::digest(pem).iter().map(|b| format!("{b:02x}")).collect()
        });
        self.set_property(&["connection", "sha256_peer_certificate_digest"], digest);
    }

    /// The time the filter reads; without it, the real clock.
    pub fn now(mut self, now: SystemTime) -> Self {
        self.store.data_mut().now = Some(now);
        self
    }

    /// Sets the time on a started host.
    pub fn set_now(&mut self, now: SystemTime) {
        self.store.data_mut().now = Some(now);
    }

    /// Calls `proxy_on_vm_start` and `proxy_on_configure`; panics unless the filter accepted its
    /// configuration.
    pub fn start(mut self) -> Self {
        assert!(self.try_start(), "on_configure returned false; filter logs: {:#?}", self.logs());
        self
    }

    /// Calls `proxy_on_vm_start` and `proxy_on_configure`; true when the filter accepted its
    /// configuration.
    pub fn try_start(&mut self) -> bool {
        assert!(!self.started, "the host is started already");
        self.started = true;
        self.call::<(u32, u32), ()>("proxy_on_context_create", (ROOT_CONTEXT_ID, 0));
        let vm_started: u32 = self.call("proxy_on_vm_start", (ROOT_CONTEXT_ID, 0u32));
        assert_eq!(vm_started, 1, "proxy_on_vm_start returned false");
        let size = self.store.data().plugin_configuration.len() as u32;
        let configured: u32 = self.call("proxy_on_configure", (ROOT_CONTEXT_ID, size));
        configured == 1
    }

    /// A request to build and send through the filter.
    pub fn request(&mut self) -> RequestBuilder<'_> {
        RequestBuilder { host: self, headers: Vec::new() }
    }

    /// Every `proxy_log` call so far.
    pub fn logs(&self) -> &[LogRecord] {
        &self.store.data().logs
    }

    /// The tick period the filter asked for (`proxy_set_tick_period_milliseconds`), 0 for none.
    pub fn tick_period_ms(&self) -> u32 {
        self.store.data().tick_period_ms
    }

    /// Calls the root context's `proxy_on_tick`, as Envoy does every tick period. Panics if the
    /// filter never asked for ticks.
    pub fn tick(&mut self) {
        assert!(self.tick_period_ms() > 0, "the filter set no tick period");
        self.call::<u32, ()>("proxy_on_tick", ROOT_CONTEXT_ID);
    }

    /// The value of a metric the filter defined, as the host holds it now (no tick first), `None`
    /// if the filter never defined it.
    pub fn metric(&self, name: &str) -> Option<u64> {
        self.store.data().metrics.iter().find(|m| m.name == name).map(|m| m.value)
    }

    /// The value of a counter after a tick (the filter hands its counts over on its tick); panics
    /// with the defined names if there is no such metric.
    pub fn counter(&mut self, name: &str) -> u64 {
        self.tick();
        let metrics = &self.store.data().metrics;
        match metrics.iter().find(|m| m.name == name) {
            Some(metric) => {
                assert_eq!(metric.kind, 0, "{name} is not a counter");
                metric.value
            }
            None => panic!("no metric {name}; defined: {:?}", metrics.iter().map(|m| &m.name).collect::<Vec<_>>()),
        }
    }

    /// Every metric the filter defined.
    pub fn metrics(&self) -> &[Metric] {
        &self.store.data().metrics
    }

    /// Imports that the filter called but this host does not implement.
    pub fn unsupported_calls(&self) -> &[String] {
        &self.store.data().unsupported_calls
    }

    /// What the module wrote with WASI `fd_write` (a panic message, for example).
    pub fn wasi_output(&self) -> &[(i32, String)] {
        &self.store.data().wasi_output
    }
}

impl Default for FilterHost {
    fn default() -> Self {
        FilterHost::new()
    }
}

/// A request being built: its headers.
pub struct RequestBuilder<'h> {
    host: &'h mut FilterHost,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
}

impl RequestBuilder<'_> {
    /// Adds a request header (a second call with the same name adds a second copy).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
        self
    }

    /// Adds a request header whose value is raw bytes (not UTF-8, say).
    pub fn header_bytes(mut self, name: &str, value: &[u8]) -> Self {
        self.headers.push((name.as_bytes().to_vec(), value.to_vec()));
        self
    }

    /// Runs the request headers through the filter: creates an HTTP context, calls
    /// `proxy_on_request_headers` (end of stream), then `proxy_on_done`, `proxy_on_log` and
    /// `proxy_on_delete`. Panics if the filter traps.
    pub fn send(self) -> Outcome {
        let host = self.host;
        assert!(host.started, "start the host before sending requests");
        let context_id = host.next_context_id;
        host.next_context_id += 1;
        let mut headers = vec![
            (b":method".to_vec(), b"GET".to_vec()),
            (b":path".to_vec(), b"/".to_vec()),
            (b":authority".to_vec(), b"backend".to_vec()),
            (b":scheme".to_vec(), b"https".to_vec()),
        ];
        headers.extend(self.headers);
        let num_headers = headers.len() as u32;
        {
            let state = host.store.data_mut();
            state.header_maps.insert(REQUEST_HEADERS, headers);
            state.local_response = None;
            state.property_reads.clear();
            state.removed_headers.clear();
        }
        let logs_before = host.store.data().logs.len();
        host.call::<(u32, u32), ()>("proxy_on_context_create", (context_id, ROOT_CONTEXT_ID));
        let action: u32 = host.call("proxy_on_request_headers", (context_id, num_headers, 1u32));
        let _done: u32 = host.call("proxy_on_done", context_id);
        host.call::<u32, ()>("proxy_on_log", context_id);
        host.call::<u32, ()>("proxy_on_delete", context_id);
        let state = host.store.data();
        Outcome {
            action,
            request_headers: state.header_map(REQUEST_HEADERS).to_vec(),
            local_response: state.local_response.clone(),
            property_reads: state.property_reads.clone(),
            removed_headers: state.removed_headers.clone(),
            logs: state.logs.get(logs_before..).unwrap_or_default().to_vec(),
        }
    }
}

/// What the filter did with one request.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// 0 Continue, 1 Pause.
    pub action: u32,
    /// The request headers after the filter ran (lowercase names where the filter set them).
    pub request_headers: HeaderMap,
    /// The local response, if the filter sent one.
    pub local_response: Option<LocalResponse>,
    /// Properties read, as dotted paths, in order.
    pub property_reads: Vec<String>,
    /// Header names passed to `proxy_remove_header_map_value`, in order.
    pub removed_headers: Vec<String>,
    /// Logs written while handling this request.
    pub logs: Vec<LogRecord>,
}

impl Outcome {
    /// Every value of a request header (any case), in order.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.request_headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    /// The only value of a request header; panics if there are several.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut values = self.header_values(name);
        assert!(values.len() <= 1, "{name} appears {} times: {values:?}", values.len());
        values.pop()
    }

    /// Asserts the filter let the request through (Continue, no local response); returns self.
    pub fn assert_allowed(&self) -> &Self {
        assert!(
            self.action == 0 && self.local_response.is_none(),
            "expected the request to pass; action {}, local response {:?}, logs {:#?}",
            self.action,
            self.local_response.as_ref().map(|r| (r.status, String::from_utf8_lossy(&r.body).into_owned())),
            self.logs
        );
        self
    }

    /// Asserts a local 403 `{"error":"forbidden","reason":reason}` and a paused request.
    pub fn assert_denied(&self, reason: &str) -> &Self {
        let response = self.local_response.as_ref().unwrap_or_else(|| {
            panic!("expected a 403 ({reason}), the request passed with headers {:?}", self.printable_headers())
        });
        assert_eq!(response.status, 403, "status");
        assert_eq!(response.json(), serde_json::json!({"error": "forbidden", "reason": reason}));
        assert!(
            response.headers.iter().any(|(k, v)| k == "content-type" && v == "application/json"),
            "content-type: {:?}",
            response.headers
        );
        assert_eq!(self.action, 1, "a denied request must be paused");
        self
    }

    /// True when this property was read.
    pub fn read_property(&self, dotted: &str) -> bool {
        self.property_reads.iter().any(|p| p == dotted)
    }

    /// The headers as text, for messages.
    pub fn printable_headers(&self) -> Vec<(String, String)> {
        self.request_headers
            .iter()
            .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), String::from_utf8_lossy(v).into_owned()))
            .collect()
    }
}
