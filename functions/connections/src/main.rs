//! The connections Lambda: the HTTP API (API Gateway HTTP API, or a function URL) that
//! DigiPost's "connecties" tab calls, on the same library as the operator CLI.

use std::sync::Arc;

use delivery::{aws, config::Env};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    logging();
    let config = connections_api::ApiConfig::read(Env::process())?;
    let clients = aws::AwsClients::new(&aws::load_from_env().await);
    let api = connections_api::on_aws(&clients, config);
    lambda_http::run(connections_api::router(Arc::new(api))).await
}

/// Lambda's log settings (`AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`; `AWS_LAMBDA_LOG_FORMAT`),
/// as the runtime's default subscriber reads them, bounded by [`connections_api::log_filter`].
fn logging() {
    use tracing_subscriber::filter::LevelFilter;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let subscriber = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(connections_api::log_filter(level));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        subscriber.json().init();
    } else {
        subscriber.init();
    }
}
