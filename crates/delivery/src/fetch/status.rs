//! The end of a run: its status and the connection's health, stored while the lease still
//! fences them, then the lease goes; and the pure rule of when a status is due.

use super::failure::fail;
use super::lease::{LazyLease, LeaseState};
use super::{Clock, Outcome, RunError, RunReport, Step};
use crate::EntityId;
use crate::health::{self, Health};
use crate::ports::{ConnectionReader, RunReportStore};

/// Whether a run's status is to be stored: always after a run that wrote, and otherwise
/// when it says something other than the stored one or that one is older than `interval`.
pub(super) fn status_due(
    wrote: bool,
    previous: Option<&RunReport>,
    last: &RunReport,
    interval: chrono::Duration,
) -> bool {
    wrote || previous.is_none_or(|p| p.finished_at + interval <= last.finished_at || !p.same_status(last))
}

/// What the entity's stores said before this run: its last run and its health.
pub(super) struct Before<'a> {
    pub run: Option<&'a RunReport>,
    pub health: Option<&'a Health>,
    /// The connection's onboarding still waits for its first delivered message.
    pub awaits_first_message: bool,
}

/// The step that closes a run: the store of last runs, the connection's health, the lease.
pub(super) struct Closing<'a> {
    pub entity: &'a EntityId,
    pub reports: &'a dyn RunReportStore,
    pub connections: &'a dyn ConnectionReader,
    pub lease: &'a LazyLease<'a>,
    pub clock: &'a dyn Clock,
    pub status_interval: chrono::Duration,
}

impl Closing<'_> {
    /// After the walk: the status, while the lease still fences it, then the lease goes.
    pub(super) async fn finish(
        &self,
        report: &mut RunReport,
        outcome: Result<(), RunError>,
        before: Before<'_>,
    ) -> Result<(), RunError> {
        let lease = self.lease;
        if let Some(LeaseState::Held(held)) = lease.state() {
            // Another run started in the meantime: it carries on, and its status counts.
            report.already_running(&held.holder, held.until);
            return Ok(());
        }
        if report.dry_run {
            return outcome;
        }
        if lease.is_lost() {
            // Another run took the entity over: its status counts, and nothing more of
            // this one is written.
            let entity = self.entity;
            return Err(fail(
                Step::Lease,
                format!("entity {entity}: the lease was taken over by another run; this run stopped writing"),
                true,
            ));
        }
        self.store_status(report, &outcome, before).await;
        lease.release().await;
        outcome
    }

    async fn store_status(&self, report: &RunReport, outcome: &Result<(), RunError>, before: Before<'_>) {
        let lease = self.lease;
        let wrote = lease.acquired();
        let mut last = report.clone();
        if let Err(e) = outcome {
            last.outcome = Outcome::Failed;
            last.error = Some(e.clone());
        }
        let now = self.clock.now();
        last.finish(now, (now - last.started_at).to_std().unwrap_or_default());
        self.record_health(before.health, &last).await;
        if before.awaits_first_message && last.delivered > 0 {
            self.record_first_message(now).await;
        }
        if status_due(wrote, before.run, &last, self.status_interval)
            && let Err(e) = self
                .reports
                .put_last(self.entity, &last, wrote.then(|| lease.fence()))
                .await
        {
            if e.lease_lost {
                lease.lose();
            }
            tracing::warn!(error = %e, "last-run status not stored");
        }
    }

    /// The onboarding's last step, once; a failure is tried again by the next run that delivers.
    async fn record_first_message(&self, now: chrono::DateTime<chrono::Utc>) {
        match self.connections.first_message_delivered(self.entity, now).await {
            Ok(true) => tracing::info!("first message delivered: the onboarding is complete"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "the onboarding's first delivered message not recorded"),
        }
    }

    /// The connection's health, when this run changed it.
    async fn record_health(&self, stored: Option<&Health>, last: &RunReport) {
        let Some(health) = crate::run::health_changed(stored, last) else {
            return;
        };
        match self.connections.set_health(self.entity, &health).await {
            Ok(_) if health.state == health::HealthState::NeedsAction => tracing::error!(
                state = %health.state,
                action = ?health.action,
                instruction = health.instruction().unwrap_or_default(),
                "the connection needs action"
            ),
            Ok(_) => tracing::info!(state = %health.state, "the connection's health changed"),
            // The next run tries again: it reads the old health.
            Err(e) => tracing::warn!(error = %e, "connection health not stored"),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::fetch::{Outcome, ProviderReport, ProviderStatus};

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
    }

    fn report(outcome: Outcome, provider_error: Option<&str>, finished_at: DateTime<Utc>) -> RunReport {
        RunReport {
            outcome,
            duration_ms: 3,
            finished_at,
            certificate_expires_at: Some(at(1, 0)),
            providers: vec![ProviderReport {
                provider_id: "p1".into(),
                state: ProviderStatus::Read,
                listed: 12,
                walk_complete: true,
                cursor_after: Some(at(10, 0)),
                error: provider_error.map(str::to_owned),
                ..ProviderReport::default()
            }],
            ..RunReport::new(uuid::Uuid::new_v4().to_string(), "0403170701".into(), false, at(1, 0))
        }
    }

    #[test]
    fn a_status_is_the_same_when_only_counts_and_times_differ() {
        let ok = report(Outcome::Ok, None, at(2, 0));
        let mut later = report(Outcome::Ok, None, at(2, 0));
        later.providers[0].listed = 13;
        assert!(ok.same_status(&later));
        assert!(!ok.same_status(&report(Outcome::Partial, None, at(2, 0))));
        assert!(!ok.same_status(&report(Outcome::Ok, Some("listing: 503"), at(2, 0))));
        let mut moved = report(Outcome::Ok, None, at(2, 0));
        moved.providers[0].cursor_after = Some(at(11, 0));
        assert!(!ok.same_status(&moved));
    }

    #[test]
    fn a_status_is_due_after_a_write_a_change_or_an_interval() {
        let hour = chrono::Duration::hours(1);
        let stored = report(Outcome::Ok, None, at(2, 0));
        let same_soon = report(Outcome::Ok, None, at(2, 0) + chrono::Duration::minutes(5));
        assert!(!status_due(false, Some(&stored), &same_soon, hour));
        assert!(status_due(true, Some(&stored), &same_soon, hour), "a run that wrote");
        assert!(status_due(false, None, &same_soon, hour), "nothing stored yet");
        let same_later = report(Outcome::Ok, None, at(2, 1));
        assert!(status_due(false, Some(&stored), &same_later, hour), "an hour on");
        let changed = report(Outcome::Partial, None, at(2, 0) + chrono::Duration::minutes(5));
        assert!(status_due(false, Some(&stored), &changed, hour));
    }
}
