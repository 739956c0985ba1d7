//! What the Lambda functions do with an event, so their `main` only builds, parses and calls.
//! Errors go to Lambda only when a retry can help: asynchronous invocations retry every
//! error, and a bad payload retried is a bad payload in the failure queue.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Value, json};

use crate::fanout::{Fanout, FanoutReport, Trigger};
use crate::fetch::{FetchRequest, Fetcher, RunError, RunReport};
use crate::metrics::{FleetMetrics, RunMetrics};
use crate::ports::StoreError;

/// A failure as Lambda is told of it: whether retrying the invocation can help.
fn diagnostic(retryable: bool, message: String) -> Diagnostic {
    Diagnostic {
        error_type: if retryable { "Retryable" } else { "NonRetryable" }.into(),
        error_message: message,
    }
}

/// A run that failed, naming its entity, the step and the cause.
impl From<&RunReport> for Diagnostic {
    fn from(report: &RunReport) -> Self {
        let cause = report
            .error
            .as_ref()
            .map_or_else(|| report.outcome.to_string(), RunError::to_string);
        diagnostic(report.retry_can_help(), format!("entity {}: {cause}", report.entity_id))
    }
}

/// A store that failed fanout (the connections could not be read).
impl From<StoreError> for Diagnostic {
    fn from(e: StoreError) -> Self {
        diagnostic(e.retryable, format!("connections: {e}"))
    }
}

/// Lambda's deadline (epoch milliseconds) as a point on the monotonic clock.
pub fn deadline(epoch_ms: u64) -> Option<tokio::time::Instant> {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_millis() as u64;
    let left = epoch_ms.checked_sub(now_ms)?;
    Some(tokio::time::Instant::now() + Duration::from_millis(left))
}

/// One fetch invocation: the run's report, logged with its metrics line.
pub async fn fetch(fetcher: &Fetcher, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let deadline = deadline(event.context.deadline);
    // A payload that is not a fetch request is answered, not failed: retrying cannot help.
    let request: FetchRequest = match serde_json::from_value(event.payload) {
        Ok(request) => request,
        Err(e) => {
            tracing::error!(error = %e, "not a fetch request");
            return Ok(json!({
                "outcome": "failed",
                "error": {"step": "input", "message": format!("not a fetch request: {e}"), "retryable": false},
            }));
        }
    };
    let report = fetcher.run(&request, deadline).await;
    log(&report);
    if report.retry_can_help() {
        return Err(Diagnostic::from(&report));
    }
    Ok(serde_json::to_value(&report).unwrap_or_default())
}

/// The message of the line a fetch run logs last, which carries its report.
pub const RUN_REPORT: &str = "run report";

/// A fetch run's report, when `line` of the function's log (Lambda's JSON format, as
/// `infra/` configures it) is the line [`log`] writes; else `None`.
pub fn logged_run_report(line: &str) -> Option<Value> {
    let entry: Value = serde_json::from_str(line).ok()?;
    if entry["fields"]["message"] != RUN_REPORT {
        return None;
    }
    serde_json::from_str(entry["fields"]["report"].as_str()?).ok()
}

/// The report as one structured line, and its metrics as another (for the alarms).
fn log(report: &RunReport) {
    if !report.dry_run {
        println!("{}", RunMetrics::from_report(report, report.finished_at).emf_line());
    }
    tracing::info!(
        entity_id = %report.entity_id,
        run_id = %report.run_id,
        outcome = ?report.outcome,
        report = %serde_json::to_string(report).unwrap_or_default(),
        "{RUN_REPORT}"
    );
}

/// One fanout invocation: bad input is answered with a report saying so.
pub async fn fanout(fanout: &Fanout, event: LambdaEvent<Value>) -> Result<FanoutReport, Diagnostic> {
    let trigger = match Trigger::from_event(&event.payload) {
        Ok(trigger) => trigger,
        Err(e) => {
            tracing::error!(error = %e, "not a fanout trigger");
            return Ok(FanoutReport {
                error: Some(format!("input: {e}")),
                ..FanoutReport::default()
            });
        }
    };
    let report = fanout.run(&trigger).await?;
    if let Some(fleet) = &report.fleet {
        println!("{}", FleetMetrics::of(fleet).emf_line());
    }
    tracing::info!(
        dispatched = report.dispatched,
        skipped_disabled = report.skipped_disabled,
        failed = report.failed.len(),
        report = %serde_json::to_string(&report).unwrap_or_default(),
        "fanout report"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use testkit::log_capture::CapturedLog;

    use super::*;

    /// A run's report is found again in the function's log, as `lambda_runtime` writes it
    /// with `AWS_LAMBDA_LOG_FORMAT=JSON`; other lines are not taken for one.
    #[test]
    fn a_logged_run_report_is_read_back() {
        let captured = CapturedLog::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_target(false)
            .without_time()
            .with_writer(captured.writer())
            .finish();
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
            .unwrap()
            .to_utc();
        // A dry run: no metrics line beside it.
        let report = RunReport::new("r1".into(), "0403170701".into(), true, at);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(entity_id = "0403170701", "another line");
            log(&report);
        });
        let text = captured.text();
        let read: Vec<Value> = text.lines().filter_map(logged_run_report).collect();
        assert_eq!(read, [serde_json::to_value(&report).unwrap()], "{text}");
        assert_eq!(text.lines().count(), 2, "{text}");
    }
}
