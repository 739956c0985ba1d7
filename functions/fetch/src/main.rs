//! The fetch Lambda: one entity per invocation, on schedule (from fanout) or by hand:
//! `{"entity_id": "0403170701", "since": "2026-11-01", "dry_run": false, "providers": [...]}`.

use delivery::{aws, config::FetchConfig, handlers, wiring};

// One thread: a run's concurrency is waiting on e-Box and S3, not computing, and a
// Lambda of a few hundred MB has a fraction of a core anyway; fewer threads, less memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = FetchConfig::from_env()?;
    let clients = aws::AwsClients::new(&aws::load_from_env().await);
    let fetcher = wiring::fetcher(&clients, &config)?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| handlers::fetch(&fetcher, event))).await
}
