//! The fetch Lambda: one entity per invocation, on schedule (from fanout) or by hand:
//! `{"entity_id": "0403170701", "since": "2026-11-01", "dry_run": false, "providers": [...]}`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use delivery::config::FetchConfig;
use delivery::fetch::{FetchRequest, Fetcher};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};

/// Returned to Lambda only when a retry of the invocation can help, so that the
/// asynchronous retries are spent on transient faults. Carries no secret.
#[derive(Debug, thiserror::Error)]
#[error("entity {entity_id}: {step}: {message}")]
struct RetryableFailure {
    entity_id: String,
    step: String,
    message: String,
}

impl From<RetryableFailure> for Diagnostic {
    fn from(e: RetryableFailure) -> Self {
        Diagnostic {
            error_type: "Retryable".into(),
            error_message: e.to_string(),
        }
    }
}

async fn handle(
    fetcher: &Fetcher,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, RetryableFailure> {
    let deadline = deadline(event.context.deadline);
    // A payload that is not a fetch request is answered, not failed: retrying cannot help.
    let request: FetchRequest = match serde_json::from_value(event.payload) {
        Ok(request) => request,
        Err(e) => {
            tracing::error!(error = %e, "not a fetch request");
            return Ok(serde_json::json!({
                "outcome": "failed",
                "error": {"step": "input", "message": format!("not a fetch request: {e}"), "retryable": false},
            }));
        }
    };
    let report = match fetcher.run(&request, deadline).await {
        Ok(report) => report,
        Err(interrupted) => unreachable!("no checkpoints are armed in a function: {interrupted}"),
    };
    if !report.dry_run {
        // Embedded metric format: CloudWatch makes metrics of this line for the alarms.
        println!(
            "{}",
            delivery::metrics::RunMetrics::from_report(&report, report.finished_at).emf_line()
        );
    }
    tracing::info!(
        entity_id = %report.entity_id,
        run_id = %report.run_id,
        outcome = ?report.outcome,
        report = %serde_json::to_string(&report).unwrap_or_default(),
        "run report"
    );
    if report.retry_can_help() {
        let e = report
            .error
            .clone()
            .unwrap_or_else(|| unreachable!("a failed report has an error"));
        return Err(RetryableFailure {
            entity_id: report.entity_id,
            step: e.step.to_string(),
            message: e.message,
        });
    }
    Ok(serde_json::to_value(&report).unwrap_or_default())
}

/// Lambda's deadline (epoch milliseconds) as a point on the monotonic clock.
fn deadline(epoch_ms: u64) -> Option<tokio::time::Instant> {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_millis() as u64;
    let left = epoch_ms.checked_sub(now_ms)?;
    Some(tokio::time::Instant::now() + Duration::from_millis(left))
}

// One thread: a run's concurrency is waiting on e-Box and S3, not computing, and a
// Lambda of a few hundred MB has a fraction of a core anyway; fewer threads, less memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = FetchConfig::from_env()?;
    let clients = delivery::aws::AwsClients::new(&delivery::aws::load_from_env().await);
    let fetcher = delivery::wiring::fetcher(&clients, &config)?;
    lambda_runtime::run(service_fn(|event| handle(&fetcher, event))).await
}
