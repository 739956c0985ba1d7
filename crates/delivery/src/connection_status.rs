//! Every connection at a glance, those that need a person first: health and its step,
//! the last run, the cursor, the certificate's days left, the earliest expiry of mail not
//! delivered. What `status` prints and the connections API answers.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::health::{Action, Health, HealthState};
use crate::ports::{Connection, StateSnapshots, StoreError};
use crate::run::{RunReport, StoredRun};

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
}

/// The status of each connection, needs-action first, then degraded, ok, and those that
/// never ran; with `needs_action_only`, only those that need a person.
pub async fn connection_statuses(
    connections: Vec<Connection>,
    snapshots: &dyn StateSnapshots,
    needs_action_only: bool,
    now: DateTime<Utc>,
) -> Result<Vec<ConnectionStatus>, StoreError> {
    let mut rows = Vec::new();
    for c in connections {
        if needs_action_only && c.health.as_ref().is_none_or(|h| h.state != HealthState::NeedsAction) {
            continue;
        }
        let state = snapshots.snapshot(&c.entity_id).await?;
        // The provider that lags most.
        let cursor = state.cursors.values().map(|c| c.position).min();
        rows.push(status_of(&c, state.last_run.as_ref(), cursor, now));
    }
    rows.sort_by_key(|r| (r.health.unwrap_or(HealthState::Ok), r.health.is_none()));
    Ok(rows)
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
    ConnectionStatus {
        entity_id: c.entity_id.to_string(),
        name: c.name.clone(),
        enabled: c.enabled,
        health: health.map(|h| h.state),
        health_since: health.map(|h| h.since),
        action_by: health.and_then(|h| h.action).map(Action::by),
        instruction: health.and_then(Health::instruction),
        last_run_at: last.map(|r| r.finished_at),
        outcome: last.map(|r| r.outcome.to_string()).or(unreadable),
        delivered: last.map(|r| r.delivered),
        cursor,
        last_error: last.and_then(last_error),
        certificate_days_to_expiry: last
            .and_then(|r| r.certificate_expires_at)
            .map(|t| (t - now).num_days()),
        undelivered_expires_at: last.and_then(RunReport::earliest_undelivered_expiry),
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
