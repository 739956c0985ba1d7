//! The fanout Lambda: fired by the schedule (or by hand with `{"entities": [...]}`), it
//! starts one asynchronous fetch per enabled connection and reports what it did.

use std::sync::Arc;

use delivery::config::FanoutConfig;
use delivery::fanout::{Fanout, FanoutReport, Trigger};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

async fn handle(fanout: &Fanout, event: LambdaEvent<Value>) -> Result<FanoutReport, Diagnostic> {
    let trigger = Trigger::from_event(&event.payload).map_err(|e| Diagnostic {
        error_type: "NonRetryable".into(),
        error_message: format!("input: {e}"),
    })?;
    let report = fanout.run(&trigger).await.map_err(|e| Diagnostic {
        error_type: if e.retryable { "Retryable" } else { "NonRetryable" }.into(),
        error_message: format!("connections: {e}"),
    })?;
    tracing::info!(
        dispatched = report.dispatched,
        skipped_disabled = report.skipped_disabled,
        failed = report.failed.len(),
        report = %serde_json::to_string(&report).unwrap_or_default(),
        "fanout report"
    );
    Ok(report)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = FanoutConfig::from_env()?;
    let clients = delivery::aws::AwsClients::new(&delivery::aws::load_from_env().await);
    let fanout = Fanout {
        connections: Arc::new(delivery::aws::DynamoConnections::new(
            clients.dynamodb.clone(),
            &config.connections_table,
        )),
        dispatcher: Arc::new(delivery::aws::LambdaDispatcher::new(
            clients.lambda.clone(),
            &config.fetch_function_name,
        )),
        settings: config.settings,
    };
    lambda_runtime::run(service_fn(|event| handle(&fanout, event))).await
}
