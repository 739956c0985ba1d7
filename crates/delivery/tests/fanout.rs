//! fanout over the connections (in memory and on moto), with a recording dispatcher.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::Utc;
use delivery::EntityId;
use delivery::fanout::*;
use delivery::memory::MemoryDispatcher;
use delivery::ports::*;
use testkit::backend::Backend;

fn entity(n: u64) -> EntityId {
    testkit::backend::entity(5, n as u32)
}

async fn connections(b: &Backend, count: u64, disabled: &[u64]) {
    for n in 0..count {
        let id = entity(n);
        let secret_id = format!("s/{id}");
        b.connections
            .put(&Connection {
                enabled: !disabled.contains(&n),
                ..Connection::new(id, format!("E{n}"), CredentialsRef::Secret { secret_id }, Utc::now())
            })
            .await
            .unwrap();
    }
}

fn fanout(b: &Backend, dispatcher: Arc<dyn Dispatcher>) -> Fanout {
    Fanout {
        connections: b.connections.clone(),
        dispatcher,
        settings: FanoutSettings {
            page_size: 3,
            min_backoff: std::time::Duration::from_millis(1),
            ..FanoutSettings::default()
        },
    }
}

testkit::both_backends!(
    every_enabled_connection_once,
    a_subset_by_name,
    throttled_invokes_are_retried
);

async fn every_enabled_connection_once(b: Backend) {
    connections(&b, 10, &[2, 7]).await;
    let dispatcher = Arc::new(MemoryDispatcher::default());
    dispatcher.refuse.lock().unwrap().insert(entity(5));
    let report = fanout(&b, dispatcher.clone()).run(&Trigger::All).await.unwrap();
    assert_eq!(report.dispatched, 7);
    assert_eq!(report.skipped_disabled, 2);
    assert_eq!(
        report.failed,
        vec![DispatchFailure {
            entity_id: entity(5).to_string(),
            reason: "refused".into()
        }]
    );
    let mut got = dispatcher.dispatched.lock().unwrap().clone();
    got.sort();
    let mut want: Vec<EntityId> = [0, 1, 3, 4, 6, 8, 9].into_iter().map(entity).collect();
    want.sort();
    assert_eq!(got, want);
}

async fn a_subset_by_name(b: Backend) {
    connections(&b, 4, &[1]).await;
    let dispatcher = Arc::new(MemoryDispatcher::default());
    let subset = Trigger::Subset(vec![
        entity(0).to_string(),
        entity(1).to_string(),
        entity(9).to_string(),
        "12".into(),
    ]);
    let report = fanout(&b, dispatcher.clone()).run(&subset).await.unwrap();
    assert_eq!(report.dispatched, 1);
    assert_eq!(report.skipped_disabled, 1);
    let reasons: Vec<String> = report
        .failed
        .iter()
        .map(|f| format!("{}: {}", f.entity_id, f.reason))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("no connection"), "{reasons:?}");
    assert!(reasons[1].contains("not 10 digits"), "{reasons:?}");
    assert_eq!(*dispatcher.dispatched.lock().unwrap(), vec![entity(0)]);
}

/// Throttled twice per entity, then accepted.
#[derive(Default)]
struct Throttling {
    calls: AtomicUsize,
    inner: MemoryDispatcher,
}

#[async_trait]
impl Dispatcher for Throttling {
    async fn dispatch(&self, entity: &EntityId) -> Result<(), DispatchError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) % 3 != 2 {
            return Err(DispatchError {
                message: "TooManyRequestsException".into(),
                retryable: true,
            });
        }
        self.inner.dispatch(entity).await
    }
}

async fn throttled_invokes_are_retried(b: Backend) {
    connections(&b, 1, &[]).await;
    let dispatcher = Arc::new(Throttling::default());
    let report = fanout(&b, dispatcher.clone()).run(&Trigger::All).await.unwrap();
    assert_eq!((report.dispatched, report.failed.len()), (1, 0));
    assert_eq!(dispatcher.calls.load(Ordering::SeqCst), 3);
}
