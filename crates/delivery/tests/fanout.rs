//! fanout over the connections (in memory and on moto), with a recording dispatcher.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use delivery::EntityId;
use delivery::fanout::*;
use delivery::fleet::{FleetReport, FleetRules, Schedule};
use delivery::health::{Health, HealthState};
use delivery::ports::*;
use testkit::backend::Backend;
use testkit::memory::MemoryDispatcher;

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
        fleet: None,
    }
}

/// Monday 7 December 2026, 12:20 in Brussels: the weekday schedule's 12:00 tick has run.
fn monday_noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 11, 20, 0).unwrap()
}

struct At(DateTime<Utc>);

impl delivery::fetch::Clock for At {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn counting(b: &Backend, dispatcher: Arc<dyn Dispatcher>, reports: Arc<dyn RunReportStore>) -> Fanout {
    let schedule = Schedule::parse(delivery::config::DEFAULT_SCHEDULE, delivery::config::DEFAULT_TIMEZONE).unwrap();
    Fanout {
        fleet: Some(FleetWatch {
            reports,
            rules: FleetRules::new(schedule),
            clock: Arc::new(At(monday_noon())),
        }),
        ..fanout(b, dispatcher)
    }
}

testkit::both_backends!(
    every_enabled_connection_once,
    a_subset_by_name,
    throttled_invokes_are_retried,
    a_tick_counts_the_whole_fleet_by_state,
    a_fleet_that_cannot_be_counted_is_still_dispatched
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

/// A mixed fleet, over more than one page and more than one batch of last runs: each
/// connection counted once, by its health, as stale after three missed scheduled runs, and
/// with undelivered mail close to expiry.
async fn a_tick_counts_the_whole_fleet_by_state(b: Backend) {
    let now = monday_noon();
    let weeks_ago = now - Duration::days(20);
    let health = |state| {
        Some(Health {
            state,
            since: weeks_ago,
            action: None,
            reason: None,
        })
    };
    // The stored last run as fetch stores it: succeeded at `success`, and with a message
    // left undelivered when it expires at `expiring`.
    let report = |success: DateTime<Utc>, expiring: Option<DateTime<Utc>>| {
        use delivery::fetch::{MessageFailure, ProviderReport, RunReport, Step};
        let mut r = RunReport::new("r".into(), "e".into(), false, success);
        r.last_success_at = Some(success);
        r.providers.push(ProviderReport {
            failed: expiring
                .map(|expires_at| MessageFailure {
                    message_id: "m".into(),
                    step: Step::Attachment,
                    reason: "refused".into(),
                    retryable: true,
                    expires_at: Some(expires_at),
                })
                .into_iter()
                .collect(),
            ..ProviderReport::default()
        });
        r
    };
    // 104 healthy ones that ran at noon; then one of each kind.
    let mut kinds = vec![("ok", HealthState::Ok, Some(now - Duration::minutes(15)), None, true); 104];
    kinds.extend([
        (
            "expiring",
            HealthState::Degraded,
            Some(now - Duration::minutes(15)),
            Some(now + Duration::days(3)),
            true,
        ),
        (
            "not yet expiring",
            HealthState::Ok,
            Some(now - Duration::minutes(15)),
            Some(now + Duration::days(9)),
            true,
        ),
        // Last success Friday 18:02 in Brussels: Friday 20:00, Monday 06:00 ... 12:00 missed.
        (
            "stale",
            HealthState::Degraded,
            Some(Utc.with_ymd_and_hms(2026, 12, 4, 17, 2, 0).unwrap()),
            None,
            true,
        ),
        // Friday's last run succeeded: a quiet weekend is no missed run. Not stale, but
        // the weekday ticks of this morning are.
        (
            "needs action",
            HealthState::NeedsAction,
            Some(now - Duration::hours(2)),
            None,
            true,
        ),
        ("never ran", HealthState::Ok, None, None, true),
        ("disabled", HealthState::NeedsAction, None, None, false),
    ]);
    for (n, (name, state, success, expiring, enabled)) in kinds.iter().enumerate() {
        let id = entity(n as u64);
        let mut c = Connection::new(
            id.clone(),
            *name,
            CredentialsRef::Secret {
                secret_id: format!("s/{id}"),
            },
            weeks_ago,
        );
        c.enabled = *enabled;
        c.health = if *name == "never ran" { None } else { health(*state) };
        if *name == "never ran" {
            // Made this morning, after the 06:00 tick: 07:00 to 12:00 missed.
            c.created_at = now - Duration::hours(6);
        }
        b.connections.put(&c).await.unwrap();
        if let Some(success) = success {
            b.stores
                .reports
                .put_last(&id, &report(*success, *expiring), None)
                .await
                .unwrap();
        }
    }
    // Two onboardings, not run: one requested yesterday, one waiting for its ClientID for
    // 20 days (stuck after 14), and one of them disabled; both are counted, neither is run.
    for (n, (since, enabled)) in [(Duration::days(1), true), (Duration::days(20), false)]
        .iter()
        .enumerate()
    {
        let id = entity(500 + n as u64);
        let mut onboarding = delivery::onboarding::Onboarding::requested(None, now - *since);
        onboarding
            .reach(delivery::onboarding::Step::WaitingForClientId, now - *since)
            .unwrap();
        let mut c = Connection::new(id, "onboarding", CredentialsRef::AwaitingClientId, now - *since);
        c.onboarding = Some(onboarding);
        c.enabled = *enabled;
        b.connections.put(&c).await.unwrap();
    }
    let dispatcher = Arc::new(MemoryDispatcher::default());
    let out = counting(&b, dispatcher.clone(), b.stores.reports.clone())
        .run(&Trigger::All)
        .await
        .unwrap();
    assert_eq!(
        (out.dispatched, out.skipped_disabled, out.skipped_onboarding),
        (109, 2, 1),
        "{:?}",
        out.failed
    );
    assert_eq!(out.fleet_error, None);
    assert_eq!(
        out.fleet,
        Some(FleetReport {
            enabled: 109,
            // "never ran" has no health yet.
            ok: 105,
            degraded: 2,
            needs_action: 1,
            // "stale" and "never ran" (six ticks since it was made); "needs action"
            // succeeded at 10:20, so 11:00 and 12:00 are two missed runs only.
            stale: 2,
            mail_expiring: 1,
            onboarding: 2,
            onboarding_stuck: 1,
        })
    );
    // A subset by hand is not a tick: nothing counted.
    let subset = Trigger::Subset(vec![entity(0).to_string()]);
    let by_hand = counting(&b, dispatcher, b.stores.reports.clone())
        .run(&subset)
        .await
        .unwrap();
    assert_eq!((by_hand.dispatched, by_hand.fleet), (1, None));
}

struct Unreadable;

#[async_trait]
impl RunReportStore for Unreadable {
    async fn put_last(
        &self,
        _: &EntityId,
        _: &delivery::fetch::RunReport,
        _: Option<Fence<'_>>,
    ) -> Result<(), StoreError> {
        unreachable!("fanout writes no run")
    }

    async fn get_last(&self, entity: &EntityId) -> Result<Option<delivery::fetch::StoredRun>, StoreError> {
        Err(StoreError::new("read run report", entity.as_str(), "throttled"))
    }
}

async fn a_fleet_that_cannot_be_counted_is_still_dispatched(b: Backend) {
    connections(&b, 5, &[]).await;
    let dispatcher = Arc::new(MemoryDispatcher::default());
    let out = counting(&b, dispatcher, Arc::new(Unreadable))
        .run(&Trigger::All)
        .await
        .unwrap();
    assert_eq!(out.dispatched, 5);
    assert_eq!(out.fleet, None);
    assert!(out.fleet_error.unwrap().contains("throttled"));
}
