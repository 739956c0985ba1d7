//! The Lambda handlers: what each payload is answered with, and which failures Lambda retries.
#![cfg(feature = "lambda")]

use std::sync::Arc;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use delivery::fanout::Fanout;
use delivery::fetch::{FetchRequest, Fetcher};
use delivery::handlers::{deadline, fanout, fetch};
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use testkit::memory::{MemoryBus, MemoryConnections, MemoryDispatcher, MemoryObjects, MemorySecrets};

fn fetcher() -> Fetcher {
    Fetcher {
        connections: Arc::new(MemoryConnections::default()),
        stores: testkit::memory::memory_stores(),
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
        events: Arc::new(MemoryBus::default()),
        clock: Arc::new(delivery::fetch::SystemClock),
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
impl delivery::ports::ConnectionReader for Throttled {
    async fn get(
        &self,
        _: &delivery::EntityId,
    ) -> Result<Option<delivery::ports::Connection>, delivery::ports::StoreError> {
        Err(delivery::ports::StoreError {
            retryable: true,
            ..delivery::ports::StoreError::new("read connection", "0403170701", "throttled")
        })
    }

    async fn page(
        &self,
        _: Option<String>,
        _: usize,
    ) -> Result<delivery::ports::Page<delivery::ports::Connection>, delivery::ports::StoreError> {
        unreachable!()
    }

    async fn set_health(
        &self,
        _: &delivery::EntityId,
        _: &delivery::health::Health,
    ) -> Result<bool, delivery::ports::StoreError> {
        unreachable!()
    }

    async fn first_message_delivered(
        &self,
        _: &delivery::EntityId,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, delivery::ports::StoreError> {
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
