//! A Lambda Runtime API on 127.0.0.1 for tests: the routes a runtime calls, served from a queue
//! of events the test pushes.
//!
//! ```text
//!  test ── invoke(event) ──► queue ──► GET  /2018-06-01/runtime/invocation/next      (long poll)
//!  test ◄── Invocation ◄──────────────  POST /2018-06-01/runtime/invocation/{id}/response
//!                                       POST /2018-06-01/runtime/invocation/{id}/error
//!  test ◄── init_error() ◄────────────  POST /2018-06-01/runtime/init/error
//! ```
//!
//! Start a [`RuntimeApi`], run the function binary with `AWS_LAMBDA_RUNTIME_API` set to
//! [`RuntimeApi::address`], then call [`RuntimeApi::invoke`] once per event. HTTP/1.1 with
//! keep-alive, `Content-Length` or chunked bodies: what `lambda_runtime`'s client sends.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the function answered for one event.
#[derive(Clone, Debug, PartialEq)]
pub enum Invocation {
    /// `POST …/{id}/response`: the function's result, as JSON.
    Response(serde_json::Value),
    /// `POST …/{id}/error`: the error the function reported.
    Error {
        /// The `Lambda-Runtime-Function-Error-Type` header.
        error_type: Option<String>,
        /// The body: `{"errorType": …, "errorMessage": …}`.
        body: serde_json::Value,
    },
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, Vec<u8>)>,
    results: HashMap<String, Invocation>,
    init_error: Option<serde_json::Value>,
    next_calls: usize,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A Runtime API server; it stops serving when dropped.
pub struct RuntimeApi {
    address: SocketAddr,
    shared: Arc<Shared>,
    next_id: Mutex<u64>,
}

/// Function ARN sent with every event.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:certprop-authorizer";

impl RuntimeApi {
    /// Listens on an ephemeral port of 127.0.0.1.
    pub fn start() -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared { state: Mutex::new(State::default()), changed: Condvar::new() });
        let accepting = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.lock().closed {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let connection = Arc::clone(&accepting);
                std::thread::spawn(move || serve(stream, &connection));
            }
        });
        Ok(RuntimeApi { address, shared, next_id: Mutex::new(0) })
    }

    /// `host:port`, the value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Queues `event`, waits for the function's answer to it.
    pub fn invoke(&self, event: &serde_json::Value, timeout: Duration) -> Result<Invocation, String> {
        let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
        self.invoke_bytes(body, timeout)
    }

    /// Queues a payload as it is (not JSON, say), waits for the function's answer to it.
    pub fn invoke_bytes(&self, body: Vec<u8>, timeout: Duration) -> Result<Invocation, String> {
        let id = {
            let mut next = self.next_id.lock().unwrap_or_else(|p| p.into_inner());
            *next += 1;
            format!("00000000-0000-4000-8000-{:012}", *next)
        };
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        state.queue.push_back((id.clone(), body));
        self.shared.changed.notify_all();
        loop {
            if let Some(result) = state.results.remove(&id) {
                return Ok(result);
            }
            if let Some(error) = &state.init_error {
                return Err(format!("the function reported an init error: {error}"));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no answer to invocation {id} within {timeout:?}"));
            }
            state = self.shared.changed.wait_timeout(state, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// The body of `POST /runtime/init/error`, if the function sent one.
    pub fn init_error(&self) -> Option<serde_json::Value> {
        self.shared.lock().init_error.clone()
    }

    /// How many times the function asked for an event.
    pub fn next_calls(&self) -> usize {
        self.shared.lock().next_calls
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
        // Wake the accept loop so that it sees `closed`.
        let _ = TcpStream::connect(self.address);
    }
}

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let mut body = Vec::new();
    if headers.get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break; // (no trailers are expected after the last chunk)
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = headers.get("content-length") {
        body = vec![0; length.parse().ok()?];
        reader.read_exact(&mut body).ok()?;
    }
    Some(Request { method, path, headers, body })
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        head += &format!("{name}: {value}\r\n");
    }
    head += "\r\n";
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

fn serve(stream: TcpStream, shared: &Shared) {
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let path = request.path.strip_prefix("/2018-06-01/runtime/").unwrap_or(&request.path);
        let accepted = b"{\"status\":\"OK\"}".to_vec();
        let json = |bytes: &[u8]| serde_json::from_slice(bytes).unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned()));
        let result = match (request.method.as_str(), path) {
            ("GET", "invocation/next") => {
                let mut state = shared.lock();
                state.next_calls += 1;
                shared.changed.notify_all();
                let next = loop {
                    if state.closed {
                        break None;
                    }
                    if let Some(next) = state.queue.pop_front() {
                        break Some(next);
                    }
                    state = shared.changed.wait(state).unwrap_or_else(|p| p.into_inner());
                };
                drop(state);
                let Some((id, event)) = next else { return };
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() + 30_000);
                respond(
                    &mut writer,
                    "200 OK",
                    &[
                        ("content-type", "application/json".to_owned()),
                        ("lambda-runtime-aws-request-id", id),
                        ("lambda-runtime-deadline-ms", deadline.to_string()),
                        ("lambda-runtime-invoked-function-arn", FUNCTION_ARN.to_owned()),
                        ("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0".to_owned()),
                    ],
                    &event,
                )
            }
            ("POST", "init/error") => {
                shared.lock().init_error = Some(json(&request.body));
                shared.changed.notify_all();
                respond(&mut writer, "202 Accepted", &[], &accepted)
            }
            ("POST", path) => {
                let invocation = path.strip_prefix("invocation/").and_then(|rest| rest.rsplit_once('/'));
                match invocation {
                    Some((id, "response")) => {
                        shared.lock().results.insert(id.to_owned(), Invocation::Response(json(&request.body)));
                        shared.changed.notify_all();
                        respond(&mut writer, "202 Accepted", &[], &accepted)
                    }
                    Some((id, "error")) => {
                        let error_type = request.headers.get("lambda-runtime-function-error-type").cloned();
                        shared.lock().results.insert(id.to_owned(), Invocation::Error { error_type, body: json(&request.body) });
                        shared.changed.notify_all();
                        respond(&mut writer, "202 Accepted", &[], &accepted)
                    }
                    _ => respond(&mut writer, "404 Not Found", &[], b"{}"),
                }
            }
            _ => respond(&mut writer, "404 Not Found", &[], b"{}"),
        };
        if result.is_err() {
            return;
        }
    }
}
