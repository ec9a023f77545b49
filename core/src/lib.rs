//! certprop's core: from a client certificate that an edge has verified to the identity headers
//! a backend receives, with no I/O.
//!
//! ```text
//!  PEM / DER / URL-encoded PEM
//!        │  parse()                      expensive: DER parse + SHA-256; cache it by digest
//!        ▼
//!     Identity ──► decide(&Identity, &Config, now) ──► Decision::Allow { headers }
//!        ▲                    ▲                          Decision::Deny  { reason }
//!        │                    │
//!  (no certificate:   Config::from_json(text)            checked once, at start-up
//!   decide_without_certificate)
//! ```
//!
//! `decide` is [`Verdict::new`] (policy rules and header rendering, which do not depend on the
//! time) followed by [`Verdict::decide`] (validity and signature, which do): an edge that sees the
//! same certificate again caches the `Verdict` and pays only for the second step.
//!
//! Edges (the proxy-wasm filter, the Lambda authorizer, the CLI) read their host's input, make one
//! of these calls and write their host's output. They remove [`Config::headers_to_strip`] from every
//! request before they set anything, so a client cannot send its own identity headers.
//!
//! Start reading at [`parse`] and [`decide`]; [`dn`] holds the RFC 4514 rules.
//!
//! The core never reads a clock, a file, the environment or a socket, and never logs: `now` is
//! an argument and every failure is a value.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod decision;
pub mod dn;
mod identity;
mod json;
mod policy;
pub mod rfc3339;
mod san;
mod signature;

pub use config::{
    context_key, Config, ConfigError, Encoding, HeaderSpec, OnMissingCert, Policy, Preset, Value,
    DEFAULT_MAX_HEADER_BYTES,
};
pub use decision::{
    decide, decide_without_certificate, is_safe_header_value, render_header, Decision, DenyReason, Header, Verdict,
};
pub use identity::{parse, CertError, Identity, Inspect, InspectSan, MAX_INPUT_BYTES, OID_CLIENT_AUTH};
pub use san::{OtherName, SubjectAltNames};
pub use signature::{
    verify, Signature, SigningKey, VerifyError, Verified, DEFAULT_MAX_AGE_SECONDS, DEFAULT_SIGNATURE_HEADER, MIN_SECRET_BYTES,
};
