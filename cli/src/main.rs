//! `certprop`: the core on the command line.
//!
//! ```text
//! certprop inspect FILE            → the identity as JSON
//! certprop headers [--config F] FILE → the decision and header values an edge would produce
//! certprop check-config FILE       → is this config valid, and what does it do
//! certprop verify --config F FILE  → do these request headers carry a valid certprop signature
//! ```
//!
//! Each command reads its files, makes one core call and prints the result. Errors are one
//! line on stderr with exit status 2.

#![forbid(unsafe_code)]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use certprop::{Config, Decision, Identity};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "certprop",
    version,
    about = "Inspect mTLS client certificates and preview the identity headers certprop sets",
    after_help = "Certificates may be PEM (the first certificate of a chain is used), DER, or URL-encoded PEM \
                  as in Envoy's x-forwarded-client-cert. FILE may be - for standard input.\n\
                  Exit status: 0 on success (allow and deny alike), 1 when `verify` finds no valid signature, \
                  2 on unreadable input or a bad config."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the identity in a certificate as one JSON object.
    Inspect {
        /// Warn on stderr when the certificate is not valid at this RFC 3339 time.
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
        /// The certificate.
        file: PathBuf,
    },
    /// Print the decision (allow with header values, or deny with a reason) an edge would make.
    Headers {
        /// The config (JSON); without it, the empty config `{}`.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Decide at this RFC 3339 time instead of now.
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
        /// The certificate; without it, the decision for a request that has no client certificate.
        file: Option<PathBuf>,
    },
    /// Check a config and summarise what it does.
    CheckConfig {
        /// The config (JSON).
        file: PathBuf,
    },
    /// Check the signature header of a request as a backend received it (exit 1 when it fails).
    Verify {
        /// The config with the `signature` block (the edge's config).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Verify at this RFC 3339 time instead of now.
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
        /// The request headers, one `name: value` per line.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect { now, file } => inspect(&file, now.as_deref()).map(Outcome::from),
        Command::Headers { config, now, file } => headers(config.as_deref(), now.as_deref(), file.as_deref()).map(Outcome::from),
        Command::CheckConfig { file } => check_config(&file).map(Outcome::from),
        Command::Verify { config, now, file } => verify(&config, now.as_deref(), &file),
    };
    match result {
        Ok(Outcome::Success(output)) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Ok(Outcome::Failure(output)) => {
            println!("{output}");
            ExitCode::FAILURE
        }
        Err(message) => {
            let one_line: String = message.lines().collect::<Vec<_>>().join(" ");
            eprintln!("certprop: error: {one_line}");
            ExitCode::from(2)
        }
    }
}

/// What a command printed: exit 0, or exit 1 for a check that did not pass.
enum Outcome {
    Success(String),
    Failure(String),
}

impl From<String> for Outcome {
    fn from(output: String) -> Outcome {
        Outcome::Success(output)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).map_err(|e| format!("cannot read standard input: {e}"))?;
        return Ok(bytes);
    }
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn parse_certificate(path: &Path) -> Result<Result<Identity, certprop::CertError>, String> {
    Ok(certprop::parse(&read(path)?))
}

fn parse_now(now: Option<&str>) -> Result<SystemTime, String> {
    let Some(text) = now else { return Ok(SystemTime::now()) };
    let seconds = certprop::rfc3339::parse(text).ok_or_else(|| format!("--now {text:?} is not an RFC 3339 time"))?;
    Ok(match u64::try_from(seconds) {
        Ok(after) => UNIX_EPOCH + Duration::from_secs(after),
        Err(_) => UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs()),
    })
}

fn load_config(path: Option<&Path>) -> Result<Config, String> {
    let Some(path) = path else { return Ok(Config::default()) };
    let text = String::from_utf8(read(path)?).map_err(|_| format!("{} is not UTF-8", path.display()))?;
    Config::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn to_json(value: &impl serde::Serialize) -> Result<String, String> {
    serde_json::to_string_pretty(value).map_err(|e| format!("cannot write JSON: {e}"))
}

fn inspect(file: &Path, now: Option<&str>) -> Result<String, String> {
    let identity = parse_certificate(file)?.map_err(|e| format!("{}: {e}", file.display()))?;
    if now.is_some() {
        let config = Config::default();
        if let Decision::Deny { reason } = certprop::decide(&identity, &config, parse_now(now)?) {
            eprintln!("certprop: note: at --now the default policy denies this certificate: {reason}");
        }
    }
    to_json(&identity.inspect())
}

/// The `headers` output: header names in config order.
#[derive(serde::Serialize)]
#[serde(tag = "decision", rename_all = "lowercase")]
enum Output<'a> {
    Allow {
        #[serde(serialize_with = "ordered_map")]
        headers: &'a [certprop::Header],
    },
    Deny {
        reason: &'static str,
    },
}

fn ordered_map<S: serde::Serializer>(headers: &&[certprop::Header], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_map(headers.iter().map(|h| (&h.name, &h.value)))
}

fn headers(config: Option<&Path>, now: Option<&str>, file: Option<&Path>) -> Result<String, String> {
    let config = load_config(config)?;
    let now = parse_now(now)?;
    let decision = match file {
        None => certprop::decide_without_certificate(&config),
        Some(file) => match parse_certificate(file)? {
            Ok(identity) => certprop::decide(&identity, &config, now),
            Err(_) => Decision::Deny { reason: certprop::DenyReason::MalformedCertificate },
        },
    };
    match &decision {
        Decision::Allow { headers } => to_json(&Output::Allow { headers }),
        Decision::Deny { reason } => to_json(&Output::Deny { reason: reason.as_str() }),
    }
}

fn check_config(file: &Path) -> Result<String, String> {
    let config = load_config(Some(file))?;
    let mut out = format!("{}: valid\n", file.display());
    if let Some(preset) = config.preset() {
        out += &format!("preset: {}\n", preset.name());
    }
    out += "headers set on allow (Lambda context key):\n";
    for header in config.headers() {
        out += &format!(
            "  {}: {} as {} ({})\n",
            header.name,
            header.value.name(),
            header.encoding.name(),
            header.context_key()
        );
    }
    out += &format!("headers stripped from every request: {}\n", config.headers_to_strip().join(", "));
    out += &format!("without a client certificate: {:?}\n", config.on_missing_cert()).to_lowercase();
    out += &format!("max_header_bytes: {}\n", config.max_header_bytes());
    let policy = config.policy();
    out += &format!(
        "policy: check_validity={} clock_skew_seconds={} require_client_auth_eku={} allow rules={}{} deny rules={}",
        policy.check_validity,
        policy.clock_skew_seconds,
        policy.require_client_auth_eku,
        policy.allow_rules(),
        if policy.allow_rules() == 0 { " (every certificate)" } else { "" },
        policy.deny_rules()
    );
    if let Some(signature) = config.signature() {
        let ids: Vec<&str> = signature.keys().iter().map(|k| k.id()).collect();
        out += &format!(
            "\nsignature: header {} (Lambda context key {}) signed with key {}; verify accepts keys {} within {} s",
            signature.header(),
            certprop::context_key(signature.header()),
            ids[0],
            ids.join(", "),
            signature.max_age_seconds()
        );
    }
    Ok(out)
}

/// The `verify` output when the signature holds: the signed headers in config order.
#[derive(serde::Serialize)]
struct Verified<'a> {
    verified: bool,
    key_id: &'a str,
    signed_at: Option<String>,
    #[serde(serialize_with = "ordered_map")]
    headers: &'a [certprop::Header],
}

/// `name: value` lines, as a request's header block; blank lines are skipped.
fn header_lines(text: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut headers = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let (name, value) = line.split_once(':').ok_or_else(|| format!("line {}: expected `name: value`", i + 1))?;
        headers.push((name.trim(), value.trim_matches([' ', '\t'])));
    }
    Ok(headers)
}

fn verify(config: &Path, now: Option<&str>, file: &Path) -> Result<Outcome, String> {
    let config = load_config(Some(config))?;
    let now = parse_now(now)?;
    let text = String::from_utf8(read(file)?).map_err(|_| format!("{} is not UTF-8", file.display()))?;
    let headers = header_lines(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    match certprop::verify(&config, &headers, now) {
        Ok(verified) => to_json(&Verified {
            verified: true,
            key_id: &verified.key_id,
            signed_at: certprop::rfc3339::format(verified.timestamp),
            headers: &verified.headers,
        })
        .map(Outcome::Success),
        Err(certprop::VerifyError::NotConfigured) => Err("the config has no signature block".into()),
        Err(error) => {
            let output = serde_json::json!({"verified": false, "reason": error.as_str(), "message": error.to_string()});
            to_json(&output).map(Outcome::Failure)
        }
    }
}
