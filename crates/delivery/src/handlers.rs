//! What the Lambda functions do with an event, so that their `main` only builds, parses
//! and calls. Errors are returned to Lambda only when a retry of the invocation can help:
//! asynchronous invocations retry every error, and a bad payload retried is a bad payload
//! in the failure queue.

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

/// The report as one structured line, and the metrics as another (CloudWatch makes
/// metrics of it for the alarms).
fn log(report: &RunReport) {
    if !report.dry_run {
        println!("{}", RunMetrics::from_report(report, report.finished_at).emf_line());
    }
    tracing::info!(
        entity_id = %report.entity_id,
        run_id = %report.run_id,
        outcome = ?report.outcome,
        report = %serde_json::to_string(report).unwrap_or_default(),
        "run report"
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
    use std::sync::Arc;

    use super::*;
    use crate::memory::{MemoryConnections, MemoryDispatcher, MemoryObjects, MemorySecrets};
    use crate::stores::Stores;

    fn fetcher() -> Fetcher {
        Fetcher {
            connections: Arc::new(MemoryConnections::default()),
            stores: Stores::memory(),
            objects: Arc::new(MemoryObjects::default()),
            secrets: Arc::new(MemorySecrets::default()),
            ebox: Arc::new(
                ebox::Ebox::new(ebox::EboxConfig::new(
                    "http://127.0.0.1:9/token",
                    "aud",
                    vec![],
                    "http://127.0.0.1:9/registry",
                ))
                .unwrap(),
            ),
            events: Arc::new(crate::memory::MemoryBus::default()),
            clock: Arc::new(crate::fetch::SystemClock),
            settings: Default::default(),
        }
    }

    fn event(payload: Value) -> LambdaEvent<Value> {
        LambdaEvent::new(payload, lambda_runtime::Context::default())
    }

    #[tokio::test]
    async fn a_payload_that_is_no_request_is_answered_not_retried() {
        let answer = fetch(&fetcher(), event(json!({"entity": "x"}))).await.unwrap();
        assert_eq!(answer["outcome"], "failed");
        assert_eq!(answer["error"]["step"], "input");
        assert!(answer["error"]["message"].as_str().unwrap().contains("entity_id"));
    }

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../../functions/fetch/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
    }

    #[tokio::test]
    async fn the_manual_payloads_are_fetch_requests() {
        let backfill: FetchRequest = serde_json::from_value(fixture("manual-backfill-dry-run.json")).unwrap();
        assert!(backfill.dry_run);
        assert_eq!(backfill.since, chrono::NaiveDate::from_ymd_opt(2026, 10, 1));
        assert_eq!(backfill.providers.as_deref(), Some(&["ebox-enterprise".to_owned()][..]));
        let answer = fetch(&fetcher(), event(fixture("manual-backfill-dry-run.json")))
            .await
            .unwrap();
        assert_eq!(
            (answer["dry_run"].as_bool(), answer["entity_id"].as_str()),
            (Some(true), Some("0403170701"))
        );
        let single: FetchRequest = serde_json::from_value(fixture("manual-single-entity.json")).unwrap();
        assert_eq!(single.entity_id, "0403170701");
    }

    #[tokio::test]
    async fn a_run_that_cannot_succeed_on_retry_is_a_report() {
        let answer = fetch(&fetcher(), event(json!({"entity_id": "0403170701"})))
            .await
            .unwrap();
        assert_eq!(answer["outcome"], "failed");
        assert_eq!(answer["error"]["step"], "connection");
        assert_eq!(answer["entity_id"], "0403170701");
    }

    /// Connections that cannot be read right now.
    struct Throttled;

    #[async_trait::async_trait]
    impl crate::ports::ConnectionReader for Throttled {
        async fn get(&self, _: &crate::EntityId) -> Result<Option<crate::ports::Connection>, crate::ports::StoreError> {
            Err(crate::ports::StoreError {
                retryable: true,
                ..crate::ports::StoreError::new("read connection", "0403170701", "throttled")
            })
        }

        async fn page(
            &self,
            _: Option<String>,
            _: usize,
        ) -> Result<crate::ports::Page<crate::ports::Connection>, crate::ports::StoreError> {
            unreachable!()
        }

        async fn set_health(
            &self,
            _: &crate::EntityId,
            _: &crate::health::Health,
        ) -> Result<bool, crate::ports::StoreError> {
            unreachable!()
        }
    }

    #[tokio::test]
    async fn a_run_that_a_retry_can_mend_is_an_error_for_lambda_to_retry() {
        let throttled = Fetcher {
            connections: Arc::new(Throttled),
            ..fetcher()
        };
        let e = fetch(&throttled, event(json!({"entity_id": "0403170701"})))
            .await
            .unwrap_err();
        assert_eq!(e.error_type, "Retryable");
        assert!(
            e.error_message.starts_with("entity 0403170701: connection: "),
            "{}",
            e.error_message
        );
    }

    #[test]
    fn deadlines_come_from_epoch_milliseconds() {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let left = deadline(now_ms + 60_000).unwrap() - tokio::time::Instant::now();
        assert!(
            left > Duration::from_secs(58) && left <= Duration::from_secs(60),
            "{left:?}"
        );
        assert_eq!(deadline(now_ms - 1), None, "already passed");
    }

    #[tokio::test]
    async fn fanout_answers_bad_input_with_a_report() {
        let f = Fanout {
            connections: Arc::new(MemoryConnections::default()),
            dispatcher: Arc::new(MemoryDispatcher::default()),
            settings: Default::default(),
            fleet: None,
        };
        let report = fanout(&f, event(json!({"entities": "0403170701"}))).await.unwrap();
        assert!(report.error.unwrap().starts_with("input: entities must be a list"));
        assert_eq!(report.dispatched, 0);
        let all = fanout(&f, event(json!({"source": "aws.events"}))).await.unwrap();
        assert_eq!((all.error, all.dispatched), (None, 0));
    }
}
