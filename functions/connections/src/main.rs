//! The connections Lambda: the HTTP API (API Gateway HTTP API, or a function URL) that
//! DigiPost's "connecties" tab calls, on the same library as the operator CLI.

use std::sync::Arc;

use delivery::{aws, config::Env};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = connections_api::ApiConfig::read(Env::process())?;
    let clients = aws::AwsClients::new(&aws::load_from_env().await);
    let api = connections_api::on_aws(&clients, config);
    lambda_http::run(connections_api::router(Arc::new(api))).await
}
