//! An echo backend: every request is answered `200` with a JSON object describing the request it
//! received, so a demo or a test can see exactly which headers reached the backend.
//!
//! ```text
//! request ──► EchoServer ──► {"method":"GET","path":"/hello",
//!                             "headers":{"x-client-cert-sub":"Q049…", …},   (copies joined with ", ")
//!                             "header_list":[["x-client-cert-sub","Q049…"], …], (every copy, in order)
//!                             "body_bytes":0}
//! ```
//!
//! Header names are lowercased. [`EchoServer::bind`] then [`EchoServer::run`] (the binary does
//! this) or [`EchoServer::spawn`] (tests run it on a thread).

#![forbid(unsafe_code)]

use std::net::SocketAddr;

/// Why the echo server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EchoError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {message}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        message: String,
    },
}

/// A bound echo server.
pub struct EchoServer {
    server: tiny_http::Server,
}

impl EchoServer {
    /// Binds `addr` (`127.0.0.1:0` picks a free port).
    pub fn bind(addr: &str) -> Result<Self, EchoError> {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| EchoError::Bind { addr: addr.to_owned(), message: e.to_string() })?;
        Ok(EchoServer { server })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.server_addr().to_ip()
    }

    /// Answers requests until the process ends.
    pub fn run(self) {
        for mut request in self.server.incoming_requests() {
            let mut body = Vec::new();
            let body_bytes = request.as_reader().read_to_end(&mut body).unwrap_or(0);
            let headers: Vec<(String, String)> = request
                .headers()
                .iter()
                .map(|h| (h.field.as_str().as_str().to_ascii_lowercase(), h.value.as_str().to_owned()))
                .collect();
            let json = describe(&request.method().to_string(), request.url(), &headers, body_bytes);
            let content_type = tiny_http::Header::from_bytes("content-type", "application/json")
                .map(|h| vec![h])
                .unwrap_or_default();
            let response = tiny_http::Response::from_string(json);
            let response = content_type.into_iter().fold(response, |r, h| r.with_header(h));
            // A client that went away is not the echo server's problem.
            let _ = request.respond(response);
        }
    }

    /// Runs on a background thread for the rest of the process; returns the address.
    pub fn spawn(self) -> Option<SocketAddr> {
        let addr = self.local_addr();
        std::thread::spawn(move || self.run());
        addr
    }
}

/// The JSON an echo response carries.
pub fn describe(method: &str, path: &str, headers: &[(String, String)], body_bytes: usize) -> String {
    let mut joined = serde_json::Map::new();
    for (name, value) in headers {
        let entry = joined.entry(name.clone()).or_insert_with(|| serde_json::Value::String(String::new()));
        if let serde_json::Value::String(text) = entry {
            if !text.is_empty() {
                text.push_str(", ");
            }
            text.push_str(value);
        }
    }
    serde_json::json!({
        "method": method,
        "path": path,
        "headers": joined,
        "header_list": headers.iter().map(|(n, v)| [n, v]).collect::<Vec<_>>(),
        "body_bytes": body_bytes,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn copies_are_joined_and_listed() {
        let headers = vec![("x-a".to_owned(), "1".to_owned()), ("x-a".to_owned(), "2".to_owned())];
        let json: serde_json::Value = serde_json::from_str(&describe("GET", "/p", &headers, 0)).unwrap();
        assert_eq!(json["headers"]["x-a"], "1, 2");
        assert_eq!(json["header_list"], serde_json::json!([["x-a", "1"], ["x-a", "2"]]));
        assert_eq!(json["path"], "/p");
    }
}
