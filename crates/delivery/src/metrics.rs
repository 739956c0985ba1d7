//! CloudWatch metrics of a run, in embedded metric format: one log line per run, which
//! CloudWatch turns into the metrics the alarms in `infra/` watch.

use chrono::{DateTime, Utc};
use metrique_writer::Entry;
use metrique_writer::format::Format;
use metrique_writer::unit::{AsBytes, AsCount, AsMilliseconds, AsSeconds};
use metrique_writer_format_emf::Emf;

use crate::fetch::RunReport;

pub const NAMESPACE: &str = "DigipostEbox";

#[derive(Entry)]
#[entry(rename_all = "PascalCase")]
pub struct RunMetrics {
    pub delivered: AsCount<u64>,
    pub failed: AsCount<u64>,
    /// List items that were not readable messages (kept raw under `_unreadable/`).
    pub unreadable: AsCount<u64>,
    /// Registered mail among the delivered messages: the urgent kind.
    pub registered_delivered: AsCount<u64>,
    pub events_published: AsCount<u64>,
    /// Delivered messages whose event is still to be published (a later run does).
    pub events_pending: AsCount<u64>,
    pub bytes: AsBytes<u64>,
    pub duration: AsMilliseconds<u64>,
    /// Since the entity's last run that ended `ok`; absent when it never had one.
    pub seconds_since_last_success: Option<AsSeconds<u64>>,
    /// Whole days until the certificate in use expires (0 once expired).
    pub certificate_days_to_expiry: Option<u64>,
    /// Until the earliest expiration among the messages this run could not deliver.
    pub undelivered_seconds_to_expiry: Option<AsSeconds<u64>>,
    /// What a reconcile found that the incremental walk missed (0, or something is wrong).
    pub reconcile_found_missing: Option<AsCount<u64>>,
    /// Properties, searchable in the log line, not metrics.
    pub entity_id: String,
    pub outcome: String,
}

impl RunMetrics {
    pub fn from_report(report: &RunReport, now: DateTime<Utc>) -> Self {
        let seconds_until = |t: DateTime<Utc>| (t - now).num_seconds().max(0) as u64;
        Self {
            delivered: report.delivered.into(),
            failed: report.failed.into(),
            unreadable: report.unreadable().into(),
            registered_delivered: report.events.registered_delivered.into(),
            events_published: report.events.published.into(),
            events_pending: report.events.pending.into(),
            bytes: report.bytes.into(),
            duration: report.duration_ms.into(),
            seconds_since_last_success: report
                .last_success_at
                .map(|t| ((now - t).num_seconds().max(0) as u64).into()),
            certificate_days_to_expiry: report
                .certificate_expires_at
                .map(|t| (t - now).num_days().max(0) as u64),
            undelivered_seconds_to_expiry: report.earliest_undelivered_expiry().map(|t| seconds_until(t).into()),
            reconcile_found_missing: report.reconcile_found_missing.map(Into::into),
            entity_id: report.entity_id.clone(),
            outcome: report.outcome.to_string(),
        }
    }

    pub fn emf_line(&self) -> String {
        emf_line(self)
    }
}

/// What fanout counts of the fleet on a tick over every connection, without a dimension
/// per entity (see [`crate::fleet`]): the alarms on these see entities that are not run.
#[derive(Entry)]
#[entry(rename_all = "PascalCase")]
pub struct FleetMetrics {
    pub connections_enabled: AsCount<u64>,
    pub connections_ok: AsCount<u64>,
    pub connections_degraded: AsCount<u64>,
    pub connections_needing_action: AsCount<u64>,
    /// Enabled connections without a success for the configured number of scheduled runs.
    pub connections_stale: AsCount<u64>,
    /// Enabled connections with undelivered mail expiring within 7 days.
    pub connections_with_mail_expiring: AsCount<u64>,
    /// Connections still onboarding, and those on one step longer than configured.
    pub connections_onboarding: AsCount<u64>,
    pub onboardings_stuck: AsCount<u64>,
}

impl FleetMetrics {
    pub fn of(fleet: &crate::fleet::FleetReport) -> Self {
        Self {
            connections_enabled: fleet.enabled.into(),
            connections_ok: fleet.ok.into(),
            connections_degraded: fleet.degraded.into(),
            connections_needing_action: fleet.needs_action.into(),
            connections_stale: fleet.stale.into(),
            connections_with_mail_expiring: fleet.mail_expiring.into(),
            connections_onboarding: fleet.onboarding.into(),
            onboardings_stuck: fleet.onboarding_stuck.into(),
        }
    }

    pub fn emf_line(&self) -> String {
        emf_line(self)
    }
}

/// The entry as one EMF JSON line; empty when it cannot be formatted.
fn emf_line(entry: &impl Entry) -> String {
    let mut out = Vec::new();
    let mut format = Emf::all_validations(NAMESPACE.into(), vec![vec![]]);
    if let Err(e) = format.format(entry, &mut out) {
        tracing::warn!(error = %e, "metrics not formatted");
        return String::new();
    }
    String::from_utf8_lossy(&out).trim_end().to_owned()
}
