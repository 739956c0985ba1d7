//! Every connection at a glance, those that need a person first: health and its step,
//! the last run, the cursor, the certificate's days left, the earliest expiry of mail not
//! delivered. What `status` prints and the connections API answers.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::health::{Action, Health, HealthState};
use crate::onboarding::Step;
use crate::ports::{Connection, StateSnapshots, StoreError};
use crate::run::{RunReport, StoredRun};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionStatus {
    pub entity_id: String,
    pub name: String,
    pub enabled: bool,
    /// `needs_action`, `degraded` or `ok`; absent before the first run.
    pub health: Option<HealthState>,
    pub health_since: Option<DateTime<Utc>>,
    /// Who has to act (`entity` or `digipost`) and the step to redo.
    pub action_by: Option<&'static str>,
    pub instruction: Option<&'static str>,
    pub last_run_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    pub delivered: Option<u64>,
    pub cursor: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub certificate_days_to_expiry: Option<i64>,
    pub undelivered_expires_at: Option<DateTime<Utc>>,
    /// Its onboarding step (`connected` for one made before onboardings were kept), since when.
    pub onboarding: Step,
    pub onboarding_since: Option<DateTime<Utc>>,
    /// Whole days on that step, when it is stuck there (longer than configured).
    pub stuck_days: Option<i64>,
}

/// The status of each connection, needs-action first, then degraded, ok, and those that
/// never ran; with `needs_action_only`, only those that need a person.
pub async fn connection_statuses(
    connections: Vec<Connection>,
    snapshots: &dyn StateSnapshots,
    needs_action_only: bool,
    stuck_after: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<ConnectionStatus>, StoreError> {
    let mut rows = Vec::new();
    for c in connections {
        let stuck = c.stuck_onboarding(stuck_after, now);
        let needs_action = c.health.as_ref().is_some_and(|h| h.state == HealthState::NeedsAction);
        if needs_action_only && !needs_action && stuck.is_none() {
            continue;
        }
        let state = snapshots.snapshot(&c.entity_id).await?;
        // The provider that lags most.
        let cursor = state.cursors.values().map(|c| c.position).min();
        let mut row = status_of(&c, state.last_run.as_ref(), cursor, now);
        row.stuck_days = stuck.map(|(_, waited)| waited.num_days());
        rows.push(row);
    }
    rows.sort_by_key(rank);
    Ok(rows)
}

/// Where a row is listed: those that need a person first (needs action, then stuck
/// onboardings), then degraded, ok, onboardings under way, and those that never ran.
fn rank(r: &ConnectionStatus) -> u8 {
    match (r.health, r.stuck_days, r.onboarding < Step::Connected) {
        (Some(HealthState::NeedsAction), _, _) => 0,
        (_, Some(_), _) => 1,
        (Some(HealthState::Degraded), _, _) => 2,
        (Some(HealthState::Ok), _, _) => 3,
        (None, None, true) => 4,
        (None, None, false) => 5,
    }
}

fn status_of(
    c: &Connection,
    stored: Option<&StoredRun>,
    cursor: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> ConnectionStatus {
    // A stored run this version does not read is shown as such, never dropped.
    let unreadable = stored.filter(|r| r.report().is_none()).map(StoredRun::summary);
    let last: Option<&RunReport> = stored.and_then(StoredRun::report);
    let health = c.health.as_ref();
    // While it onboards, the next step of the trajectory is what a person does.
    let onboarding = c.onboarding.as_ref().filter(|_| !c.is_connected());
    let (action_by, instruction) = match onboarding {
        Some(o) => (Some(o.next_by()), Some(o.next())),
        None => (
            health.and_then(|h| h.action).map(Action::by),
            health.and_then(Health::instruction),
        ),
    };
    ConnectionStatus {
        entity_id: c.entity_id.to_string(),
        name: c.name.clone(),
        enabled: c.enabled,
        health: health.map(|h| h.state),
        health_since: health.map(|h| h.since),
        action_by,
        instruction,
        last_run_at: last.map(|r| r.finished_at),
        outcome: last.map(|r| r.outcome.to_string()).or(unreadable),
        delivered: last.map(|r| r.delivered),
        cursor,
        last_error: last.and_then(last_error),
        certificate_days_to_expiry: last
            .and_then(|r| r.certificate_expires_at)
            .map(|t| (t - now).num_days()),
        undelivered_expires_at: last.and_then(RunReport::earliest_undelivered_expiry),
        onboarding: c.onboarding_step(),
        onboarding_since: c.onboarding.as_ref().and_then(|o| o.current()).map(|(_, at)| at),
        stuck_days: None,
    }
}

/// The run's own error, else a provider's, else a message's.
fn last_error(r: &RunReport) -> Option<String> {
    r.error
        .as_ref()
        .map(|e| format!("{}: {}", e.step, e.message))
        .or_else(|| r.providers.iter().find_map(|p| p.error.clone()))
        .or_else(|| {
            r.providers
                .iter()
                .flat_map(|p| &p.failed)
                .next()
                .map(|f| f.reason.clone())
        })
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use chrono::TimeZone;

    use super::*;
    use crate::EntityId;
    use crate::onboarding::Onboarding;
    use crate::ports::{CredentialsRef, EntityState};

    struct NeverRan;

    #[async_trait]
    impl StateSnapshots for NeverRan {
        async fn snapshot(&self, _: &EntityId) -> Result<EntityState, StoreError> {
            Ok(EntityState::default())
        }
    }

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, d, 9, 0, 0).unwrap()
    }

    fn connection(n: u64, onboarding: Option<(Step, u32)>, health: Option<HealthState>) -> Connection {
        let id = EntityId::parse(&format!("{:08}{:02}", 4_000_000 + n, 97 - (4_000_000 + n) % 97)).unwrap();
        let mut c = Connection::new(id, format!("E{n}"), CredentialsRef::AwaitingClientId, day(1));
        if let Some((step, d)) = onboarding {
            let mut o = Onboarding::requested(None, day(1));
            o.reach(step, day(d)).unwrap();
            c.onboarding = Some(o);
        } else {
            c.credentials = CredentialsRef::Secret { secret_id: "s".into() };
        }
        c.health = health.map(|state| Health {
            state,
            since: day(1),
            action: Some(Action::WebserviceAccount),
            reason: None,
        });
        c
    }

    #[tokio::test]
    async fn stuck_onboardings_are_listed_after_needs_action_with_their_step_and_days() {
        let fleet = vec![
            connection(1, None, Some(HealthState::Ok)),
            connection(2, Some((Step::WaitingForClientId, 2)), None),
            connection(3, Some((Step::CertificateHandedOver, 20)), None),
            connection(4, None, Some(HealthState::NeedsAction)),
        ];
        let now = day(30);
        let rows = connection_statuses(fleet.clone(), &NeverRan, false, Duration::days(14), now)
            .await
            .unwrap();
        let order: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(order, ["E4", "E2", "E1", "E3"]);
        let stuck = &rows[1];
        assert_eq!(
            (stuck.onboarding, stuck.stuck_days),
            (Step::WaitingForClientId, Some(28))
        );
        assert_eq!(stuck.onboarding_since, Some(day(2)));
        assert_eq!(stuck.action_by, Some("entity"));
        assert!(stuck.instruction.unwrap().contains("ChaMan"));
        assert_eq!(
            (rows[3].onboarding, rows[3].stuck_days),
            (Step::CertificateHandedOver, None)
        );
        assert_eq!(rows[2].onboarding, Step::Connected, "made before onboardings were kept");
        let needing = connection_statuses(fleet, &NeverRan, true, Duration::days(14), now)
            .await
            .unwrap();
        let order: Vec<&str> = needing.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(order, ["E4", "E2"]);
    }
}
