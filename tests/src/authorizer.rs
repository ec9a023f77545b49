//! The built `certprop-authorizer` as a Lambda would run it: a child process served by a
//! [`RuntimeApi`], and API Gateway's event shapes built from the fixtures in `lambda/tests/fixtures`.

use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::runtime_api::{Invocation, RuntimeApi};
use crate::{artifact, repo_root};

/// The authorizer process; killed when dropped.
pub struct Authorizer {
    child: Child,
    output: Option<JoinHandle<String>>,
}

impl Authorizer {
    /// Starts the built binary against `api` with `CERTPROP_CONFIG` = `config` and the
    /// environment Lambda gives a function. Panics with a build hint if the binary is missing.
    pub fn start(api: &RuntimeApi, config: &str) -> Authorizer {
        let binary = artifact("release/certprop-authorizer", "cargo build --release -p certprop-authorizer");
        let mut child = lambda_command(binary.as_os_str(), api, config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start certprop-authorizer: {e}"));
        // Both streams into one text, read on threads so that a full pipe never blocks the child.
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let output = std::thread::spawn(move || {
            let err = std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text);
                text
            });
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text + &err.join().unwrap_or_default()
        });
        Authorizer { child, output: Some(output) }
    }

    /// Waits for the process to exit by itself; its status and output.
    pub fn wait_exit(mut self, timeout: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                break status;
            }
            assert!(Instant::now() < deadline, "the function did not exit within {timeout:?}");
            std::thread::sleep(Duration::from_millis(20));
        };
        (status.code(), self.output.take().map(|o| o.join().unwrap_or_default()).unwrap_or_default())
    }

    /// Kills the process (which must still be running); its output.
    pub fn stop(mut self) -> String {
        assert!(self.child.try_wait().expect("child status").is_none(), "the function exited early");
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.output.take().map(|o| o.join().unwrap_or_default()).unwrap_or_default()
    }
}

impl Drop for Authorizer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `program` with only the environment Lambda gives a function (and `PATH`), its Runtime API at
/// `api`, and `CERTPROP_CONFIG` = `config`.
pub fn lambda_command(program: &std::ffi::OsStr, api: &RuntimeApi, config: &str) -> Command {
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "certprop-authorizer")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/certprop-authorizer")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/12/03/[$LATEST]0123456789abcdef")
        .env("AWS_REGION", "us-east-1")
        .env("CERTPROP_CONFIG", config);
    command
}

/// The built authorizer's answer to each event, all in one process with `config`:
/// `Ok(response)` or `Err(errorMessage)`.
pub fn answers(config: &str, events: &[&Value]) -> Vec<Result<Value, String>> {
    let api = RuntimeApi::start().unwrap_or_else(|e| panic!("runtime API: {e}"));
    let authorizer = Authorizer::start(&api, config);
    let answers = events
        .iter()
        .map(|event| match api.invoke(event, Duration::from_secs(20)) {
            Ok(Invocation::Response(response)) => Ok(response),
            Ok(Invocation::Error { body, .. }) => Err(body["errorMessage"].as_str().unwrap_or_default().to_owned()),
            Err(message) => panic!("{message}"),
        })
        .collect();
    drop(authorizer);
    answers
}

/// An event from `lambda/tests/fixtures`, as JSON.
pub fn fixture(name: &str) -> Value {
    let path = repo_root().join("lambda/tests/fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A REST API REQUEST authorizer event with this client certificate (`None`: `clientCert` null).
pub fn rest_event(pem: Option<&str>) -> Value {
    let mut event = fixture("rest-request.json");
    match pem {
        Some(pem) => event["requestContext"]["identity"]["clientCert"]["clientCertPem"] = json!(pem),
        None => event["requestContext"]["identity"]["clientCert"] = Value::Null,
    }
    event
}

/// An HTTP API (payload 2.0) authorizer event with this client certificate.
pub fn http_event(pem: &str) -> Value {
    let mut event = fixture("http-request.json");
    event["requestContext"]["authentication"]["clientCert"]["clientCertPem"] = json!(pem);
    event
}
