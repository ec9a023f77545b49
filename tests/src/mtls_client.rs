//! An mTLS HTTP/1.1 client on rustls for the tests that drive the real Envoy: it presents the
//! certificate bytes it is given as they are (OpenSSL, and so curl, refuses to load many of the
//! hostile certificates that a CA could still sign), writes request headers byte for byte (any
//! case, repeated, empty), and keeps a connection for several requests.
//!
//! ```text
//! MtlsClient::new(envoy.listener(), Some(&ClientCertificate::named("client")))
//!   .get("/hello", &[("X-Client-Cert-Sub", "forged")])      one request, one new connection
//!   .connect()?.get(…)?, .get(…)?                           several requests, one connection
//!        ──► Response { status, body, error }  (status 0 and the TLS error: no HTTP response)
//! ```
//!
//! The server is verified as `localhost` against `certs/ca.pem`.

use std::io::{BufReader, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::envoy::{read_http_response, Response};
use crate::repo_root;

/// A client certificate (as DER bytes, sent as they are) and its private key.
pub struct ClientCertificate {
    der: Vec<u8>,
    key: PrivateKeyDer<'static>,
}

impl ClientCertificate {
    /// `certs/NAME.pem` with `certs/NAME.key`.
    pub fn named(name: &str) -> Self {
        let certs = repo_root().join("certs");
        ClientCertificate::pem_file(&certs.join(format!("{name}.pem")), &certs.join(format!("{name}.key")))
    }

    /// The first CERTIFICATE block of a PEM file, with a PKCS#8 PEM key file.
    pub fn pem_file(cert: &Path, key: &Path) -> Self {
        let der = CertificateDer::pem_file_iter(cert)
            .unwrap_or_else(|e| panic!("{}: {e}", cert.display()))
            .next()
            .unwrap_or_else(|| panic!("{}: no CERTIFICATE block", cert.display()))
            .unwrap_or_else(|e| panic!("{}: {e}", cert.display()));
        ClientCertificate::der(der.to_vec(), key)
    }

    /// Certificate bytes as they are, with a PKCS#8 PEM key file.
    pub fn der(der: Vec<u8>, key: &Path) -> Self {
        let key = PrivateKeyDer::from_pem_file(key).unwrap_or_else(|e| panic!("{}: {e}", key.display()));
        ClientCertificate { der, key }
    }

    /// The certificate's bytes.
    pub fn der_bytes(&self) -> &[u8] {
        &self.der
    }
}

/// A client for one server port, with or without a client certificate.
pub struct MtlsClient {
    config: Arc<ClientConfig>,
    port: u16,
}

/// An open connection; requests on it reuse it.
pub struct Connection {
    tls: BufReader<StreamOwned<ClientConnection, TcpStream>>,
}

impl MtlsClient {
    /// A client of `localhost:port` that presents `certificate` (None: no client certificate).
    pub fn new(port: u16, certificate: Option<&ClientCertificate>) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        let ca = repo_root().join("certs/ca.pem");
        for cert in CertificateDer::pem_file_iter(&ca).unwrap_or_else(|e| panic!("{}: {e}", ca.display())) {
            roots.add(cert.expect("certs/ca.pem")).expect("the test CA as a root");
        }
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots);
        let config = match certificate {
            None => builder.with_no_client_auth(),
            Some(certificate) => {
                // CertifiedKey::new, not with_client_auth_cert: that one parses the certificate,
                // and the point is to send bytes that may not parse.
                let key = load_key(&provider, &certificate.key);
                let chain = vec![CertificateDer::from(certificate.der.clone())];
                builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(CertifiedKey::new(chain, key))))
            }
        };
        MtlsClient { config: Arc::new(config), port }
    }

    /// Opens a connection (the handshake completes on the first request).
    pub fn connect(&self) -> Result<Connection, String> {
        let server = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
        let connection = ClientConnection::new(Arc::clone(&self.config), server).map_err(|e| e.to_string())?;
        let socket = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| format!("connect: {e}"))?;
        socket.set_read_timeout(Some(Duration::from_secs(20))).map_err(|e| e.to_string())?;
        socket.set_write_timeout(Some(Duration::from_secs(20))).map_err(|e| e.to_string())?;
        Ok(Connection { tls: BufReader::new(StreamOwned::new(connection, socket)) })
    }

    /// One GET on a new connection; a failed handshake or connection is a [`Response`] with
    /// status 0 and the error.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        match self.connect().and_then(|mut connection| connection.get(path, headers)) {
            Ok(response) => response,
            Err(error) => Response { status: 0, body: String::new(), error },
        }
    }
}

fn load_key(provider: &CryptoProvider, key: &PrivateKeyDer<'static>) -> Arc<dyn rustls::sign::SigningKey> {
    provider.key_provider.load_private_key(key.clone_key()).expect("a private key rustls can sign with")
}

impl Connection {
    /// GET `path` with these headers, written as given (`("x-a", "")` sends an empty value).
    pub fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Result<Response, String> {
        let mut request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n").into_bytes();
        for (name, value) in headers {
            request.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        request.extend_from_slice(b"\r\n");
        let stream = self.tls.get_mut();
        stream.write_all(&request).and_then(|()| stream.flush()).map_err(|e| format!("send: {e}"))?;
        let (status, _, body) = read_http_response(&mut self.tls)?;
        Ok(Response { status, body: String::from_utf8_lossy(&body).into_owned(), error: String::new() })
    }
}
