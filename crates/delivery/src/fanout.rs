//! The fanout use case: one asynchronous fetch per enabled connection. No e-Box work.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::EntityId;
use crate::fetch::Clock;
use crate::fleet::{FleetReport, FleetRules, LastRun};
use crate::ports::*;

/// What triggered a fanout: the schedule (an EventBridge rule's `Scheduled Event` or the
/// Scheduler's own input, both meaning "every connection"), or an operator naming some.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    All,
    Subset(Vec<String>),
}

impl Trigger {
    pub fn from_event(event: &Value) -> Result<Self, String> {
        let id = |v: &Value| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("entities holds a non-string: {v}"))
        };
        match event.get("entities") {
            None | Some(Value::Null) => Ok(Trigger::All),
            Some(Value::Array(items)) => items.iter().map(id).collect::<Result<_, _>>().map(Trigger::Subset),
            Some(other) => Err(format!("entities must be a list of enterprise numbers, not {other}")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchFailure {
    pub entity_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanoutReport {
    pub dispatched: u64,
    pub skipped_disabled: u64,
    /// Enabled connections still onboarding (not connected): fetch would refuse them.
    #[serde(default)]
    pub skipped_onboarding: u64,
    pub failed: Vec<DispatchFailure>,
    /// Why nothing was dispatched: the trigger could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The fleet's counts, on a tick over every connection (see [`crate::fleet`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetReport>,
    /// Why the fleet was not counted this tick (the dispatches went on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet_error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FanoutSettings {
    pub concurrency: usize,
    pub page_size: usize,
    pub max_retries: usize,
    pub min_backoff: Duration,
}

impl Default for FanoutSettings {
    fn default() -> Self {
        Self {
            concurrency: 64,
            page_size: 500,
            max_retries: 5,
            min_backoff: Duration::from_millis(100),
        }
    }
}

pub struct Fanout {
    pub connections: Arc<dyn ConnectionReader>,
    pub dispatcher: Arc<dyn Dispatcher>,
    pub settings: FanoutSettings,
    /// Counts the fleet on ticks over every connection; none counts nothing.
    pub fleet: Option<FleetWatch>,
}

/// What counting the fleet needs: the stored last runs, the rules, and the time.
pub struct FleetWatch {
    pub reports: Arc<dyn RunReportStore>,
    pub rules: FleetRules,
    pub clock: Arc<dyn Clock>,
}

/// The tick's counts as they are taken, page by page; the first failure ends them.
struct FleetCount<'a> {
    watch: &'a FleetWatch,
    now: chrono::DateTime<chrono::Utc>,
    counted: std::sync::Mutex<Result<FleetReport, String>>,
}

impl FleetCount<'_> {
    /// Adds a page of connections to the counts, reading their last runs at once.
    async fn page(&self, page: &[Connection]) {
        if self.counted.lock().unwrap().is_err() {
            return;
        }
        let enabled: Vec<EntityId> = (page.iter())
            .filter(|c| c.enabled && c.is_connected())
            .map(|c| c.entity_id.clone())
            .collect();
        let result = self.watch.reports.get_last_many(&enabled).await;
        let mut counted = self.counted.lock().unwrap();
        match (result, &mut *counted) {
            (Ok(last), Ok(total)) => {
                let last: HashMap<EntityId, LastRun> = last
                    .into_iter()
                    .map(|(id, run)| (id, LastRun::of_report(run)))
                    .collect();
                for c in page {
                    self.watch.rules.count(total, c, last.get(&c.entity_id), self.now);
                }
            }
            (Err(e), _) => {
                tracing::warn!(error = %e, "the fleet is not counted this tick");
                *counted = Err(e.to_string());
            }
            (Ok(_), Err(_)) => {}
        }
    }
}

impl Fanout {
    pub async fn run(&self, trigger: &Trigger) -> Result<FanoutReport, StoreError> {
        let mut report = FanoutReport::default();
        match trigger {
            Trigger::All => {
                let fleet = self.fleet.as_ref().map(|watch| FleetCount {
                    watch,
                    now: watch.clock.now(),
                    counted: std::sync::Mutex::new(Ok(FleetReport::default())),
                });
                let fleet = fleet.as_ref();
                // Pages are read as the invokes go, into one bounded stream: memory does not
                // grow with the number of connections, and the pipeline never drains
                // between pages. Each page is counted before its invokes start.
                let pages = futures::stream::try_unfold(Some(None), |from: Option<Option<String>>| async move {
                    let Some(from) = from else { return Ok(None) };
                    let page = self.connections.page(from, self.settings.page_size).await?;
                    if let Some(fleet) = fleet {
                        fleet.page(&page.items).await;
                    }
                    let next = page.next.map(Some);
                    Ok::<_, StoreError>(Some((page.items, next)))
                });
                let connections = pages
                    .map_ok(|items| futures::stream::iter(items.into_iter().map(Ok::<_, StoreError>)))
                    .try_flatten();
                self.dispatch_all(connections, &mut report).await?;
                if let Some(fleet) = fleet {
                    match fleet.counted.lock().unwrap().clone() {
                        Ok(counts) => report.fleet = Some(counts),
                        Err(e) => report.fleet_error = Some(e),
                    }
                }
            }
            Trigger::Subset(ids) => {
                let mut chosen = Vec::new();
                for raw in ids {
                    let found = match EntityId::parse_lenient(raw) {
                        Ok(id) => self
                            .connections
                            .get(&id)
                            .await?
                            .ok_or_else(|| (id.to_string(), "no connection for this entity".to_owned())),
                        Err(e) => Err((raw.clone(), e.to_string())),
                    };
                    match found {
                        Ok(c) => chosen.push(Ok(c)),
                        Err((entity_id, reason)) => report.failed.push(DispatchFailure { entity_id, reason }),
                    }
                }
                self.dispatch_all(futures::stream::iter(chosen), &mut report).await?;
            }
        }
        Ok(report)
    }

    async fn dispatch_all(
        &self,
        connections: impl futures::Stream<Item = Result<Connection, StoreError>>,
        report: &mut FanoutReport,
    ) -> Result<(), StoreError> {
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
        let (disabled, onboarding) = (&AtomicU64::new(0), &AtomicU64::new(0));
        let mut results = std::pin::pin!(
            connections
                .try_filter_map(move |c| {
                    let run = c.enabled && c.is_connected();
                    if !c.enabled {
                        disabled.fetch_add(1, Relaxed);
                    } else if !run {
                        onboarding.fetch_add(1, Relaxed);
                    }
                    std::future::ready(Ok(run.then_some(c.entity_id)))
                })
                .map_ok(|entity| async move {
                    let backoff = ExponentialBuilder::default()
                        .with_min_delay(self.settings.min_backoff)
                        .with_max_times(self.settings.max_retries)
                        .with_jitter();
                    let result = (|| self.dispatcher.dispatch(&entity))
                        .retry(backoff)
                        .sleep(tokio::time::sleep)
                        .when(|e: &DispatchError| e.retryable)
                        .await;
                    Ok::<_, StoreError>((entity, result))
                })
                .try_buffer_unordered(self.settings.concurrency.max(1))
        );
        while let Some((entity, result)) = results.try_next().await? {
            match result {
                Ok(()) => report.dispatched += 1,
                Err(e) => report.failed.push(DispatchFailure {
                    entity_id: entity.to_string(),
                    reason: e.message,
                }),
            }
        }
        report.skipped_disabled += disabled.load(Relaxed);
        report.skipped_onboarding += onboarding.load(Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_from_every_payload_kind() {
        let fixture = |name: &str| -> Value {
            let path = format!("{}/../../functions/fanout/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
        };
        assert_eq!(Trigger::from_event(&fixture("scheduled-event.json")), Ok(Trigger::All));
        assert_eq!(Trigger::from_event(&fixture("scheduler-input.json")), Ok(Trigger::All));
        assert_eq!(
            Trigger::from_event(&fixture("manual-subset.json")),
            Ok(Trigger::Subset(vec!["0403170701".into(), "0123456749".into()]))
        );
        assert!(Trigger::from_event(&serde_json::json!({"entities": "0403170701"})).is_err());
        assert!(Trigger::from_event(&serde_json::json!({"entities": [1]})).is_err());
    }
}
