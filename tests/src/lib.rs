//! Test support for certprop's artifact tests: the tests under `tests/tests/` load built
//! artifacts (the `.wasm` filter, the Lambda binary, the CLI) and real hosts (Envoy, a Lambda
//! Runtime API) and assert on what they do. Each helper fails with a message that says how to
//! build what is missing.

#![forbid(unsafe_code)]

pub mod authorizer;
pub mod envoy;
pub mod hostile;
pub mod mtls_client;
pub mod proxy_wasm_host;
pub mod runtime_api;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A built artifact under `target/`, or a panic that says how to build it.
pub fn artifact(relative: &str, build_with: &str) -> PathBuf {
    let path = repo_root().join("target").join(relative);
    assert!(path.exists(), "{} is missing: build it with `{build_with}` (or run `make test`)", path.display());
    path
}

/// The `x509/` folder of pyca's `cryptography_vectors`, installed in `.venv` by `make venv`.
pub fn vectors_dir() -> PathBuf {
    let python = repo_root().join(".venv/bin/python");
    let output = Command::new(&python)
        .args(["-c", "import cryptography_vectors, os; print(os.path.dirname(cryptography_vectors.__file__))"])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}: create the venv with `make venv`", python.display()));
    assert!(output.status.success(), "cryptography_vectors is not installed: run `make venv`");
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()).join("x509")
}

/// What the core decides now for `certs/NAME.pem` (`None`: a request without a certificate):
/// the headers of an allow, sorted by name, or the deny reason.
pub fn core_headers_for(
    certificate: Option<&str>,
    config: &certprop::Config,
) -> Result<Vec<(String, String)>, certprop::DenyReason> {
    let decision = match certificate {
        None => certprop::decide_without_certificate(config),
        Some(name) => {
            let path = repo_root().join("certs").join(format!("{name}.pem"));
            let pem = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let identity = certprop::parse(&pem).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            certprop::decide(&identity, config, std::time::SystemTime::now())
        }
    };
    match decision {
        certprop::Decision::Allow { headers } => {
            let mut headers: Vec<(String, String)> = headers.into_iter().map(|h| (h.name, h.value)).collect();
            headers.sort();
            Ok(headers)
        }
        certprop::Decision::Deny { reason } => Err(reason),
    }
}

/// A certificate to compare edges on, as the PEM text an edge receives.
#[derive(Clone, Debug)]
pub struct Sample {
    /// `certs/NAME.pem` or `vectors/RELATIVE/PATH`.
    pub name: String,
    /// The PEM text (possibly malformed).
    pub pem: String,
}

impl Sample {
    /// The file name without its folders.
    pub fn basename(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }
}

/// Every `.pem` under `certs/`, every `.pem` of the vectors, and every `der_every`-th DER file
/// of the vectors (`.crt`, `.der`) that the core reads, wrapped as PEM as the edges receive it.
pub fn certificate_samples(der_every: usize) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut certs = files_under(&repo_root().join("certs"));
    certs.retain(|p| p.extension().is_some_and(|e| e == "pem"));
    for path in certs {
        let pem = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        samples.push(Sample { name: format!("certs/{}", path.file_name().unwrap_or_default().to_string_lossy()), pem });
    }
    let vectors = vectors_dir();
    let mut der_seen = 0;
    for path in files_under(&vectors) {
        let relative = path.strip_prefix(&vectors).unwrap_or(&path).to_string_lossy().into_owned();
        let extension = path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default();
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let pem = match extension.as_str() {
            "pem" => match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(_) => continue,
            },
            "crt" | "der" => {
                der_seen += 1;
                if der_seen % der_every != 0 {
                    continue;
                }
                match certprop::parse(&bytes) {
                    Ok(identity) => identity.pem(),
                    Err(_) => continue,
                }
            }
            _ => continue,
        };
        samples.push(Sample { name: format!("vectors/{relative}"), pem });
    }
    samples
}

/// Every file under `dir`, recursively, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}
