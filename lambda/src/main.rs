//! The `certprop-authorizer` binary (`bootstrap` on `provided.al2023`): reads `CERTPROP_CONFIG`
//! once at cold start and hands [`certprop_authorizer::authorize`] to the Lambda runtime (with
//! `lambda_runtime::run`'s tracing layer, and [`certprop_authorizer::non_json_as_null`] in front).
//! A config the core rejects fails the init: the ConfigError is logged and the process exits
//! with status 1 before it asks for an event, so Lambda reports `Runtime.ExitError`.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use certprop_authorizer::{authorize, config_from_env, non_json_as_null, AuthorizerEvent};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    init_logging();
    let value = std::env::var("CERTPROP_CONFIG").ok();
    let config = match config_from_env(value.as_deref()) {
        Ok(config) => Arc::new(config),
        Err(error) => {
            tracing::error!(error = %error, "CERTPROP_CONFIG is not a valid certprop config");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        headers = config.headers().iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(","),
        configured = value.is_some(),
        "certprop authorizer ready"
    );
    let handler = service_fn(move |event: LambdaEvent<AuthorizerEvent>| {
        let config = Arc::clone(&config);
        async move { authorize(&config, event.payload, SystemTime::now()).await }
    });
    let runtime = lambda_runtime::Runtime::new(handler)
        .layer(lambda_runtime::layers::TracingLayer::new())
        .layer(lambda_runtime::tower::util::MapRequestLayer::new(non_json_as_null));
    match runtime.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}

/// One JSON object per line on stdout (CloudWatch Logs keeps each as one event). The level is
/// `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's advanced logging controls) or `RUST_LOG`, default info.
fn init_logging() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned())
        .to_lowercase();
    let filter = tracing_subscriber::EnvFilter::try_new(&level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .init();
}
