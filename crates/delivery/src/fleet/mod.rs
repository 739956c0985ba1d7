//! What fanout sees of the whole fleet on each tick, as counts without a dimension per
//! entity (enabled, by health, stale, with mail close to expiring): an entity that is not
//! run emits no metric of its own, so these counts are how the alarms see silence.
//!
//! "Stale" counts scheduled runs missed, not hours: a weekend without ticks on the
//! weekday schedule is not missed runs, three ticks in a row without a success are.

mod schedule;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::health::HealthState;
use crate::ports::Connection;
pub use schedule::Schedule;

/// Days on one onboarding step before it counts as stuck, unless configured otherwise.
pub const DEFAULT_ONBOARDING_STUCK_DAYS: i64 = 14;

/// What the fleet rules need of an entity's stored last run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastRun {
    pub last_success_at: Option<DateTime<Utc>>,
    /// The earliest expiration among messages that run could not deliver.
    pub undelivered_expiry: Option<DateTime<Utc>>,
}

impl LastRun {
    /// From the stored report; one of an older schema still gives its last success.
    pub fn of_report(stored: crate::run::StoredRun) -> Self {
        Self {
            last_success_at: stored.last_success_at(),
            undelivered_expiry: stored.report().and_then(|r| r.earliest_undelivered_expiry()),
        }
    }
}

/// The counts of one tick.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetReport {
    pub enabled: u64,
    pub ok: u64,
    pub degraded: u64,
    pub needs_action: u64,
    /// Enabled connections without a success for `missed_runs` scheduled runs in a row.
    pub stale: u64,
    /// Enabled connections whose last run left mail undelivered that expires soon.
    pub mail_expiring: u64,
    /// Connections still onboarding (not connected yet), and those of them on one step
    /// for longer than `onboarding_stuck_after`.
    #[serde(default)]
    pub onboarding: u64,
    #[serde(default)]
    pub onboarding_stuck: u64,
}

impl FleetReport {
    pub fn add(&mut self, other: &FleetReport) {
        self.enabled += other.enabled;
        self.ok += other.ok;
        self.degraded += other.degraded;
        self.needs_action += other.needs_action;
        self.stale += other.stale;
        self.mail_expiring += other.mail_expiring;
        self.onboarding += other.onboarding;
        self.onboarding_stuck += other.onboarding_stuck;
    }
}

#[derive(Debug, Clone)]
pub struct FleetRules {
    pub schedule: Schedule,
    /// Scheduled runs in a row without a success that make a connection stale.
    pub missed_runs: u32,
    /// How long after its tick a run may still be under way, before the tick counts as missed.
    pub settle: Duration,
    /// How long fetch leaves an unchanged status unwritten: the stored success may lag by this.
    pub quiet_after_success: Duration,
    /// Undelivered mail expiring within this is counted.
    pub expiry_horizon: Duration,
    /// An onboarding on one step for longer than this is stuck.
    pub onboarding_stuck_after: Duration,
}

impl FleetRules {
    pub fn new(schedule: Schedule) -> Self {
        Self {
            schedule,
            missed_runs: 3,
            settle: Duration::minutes(15),
            quiet_after_success: crate::run::STATUS_INTERVAL,
            expiry_horizon: Duration::days(7),
            onboarding_stuck_after: Duration::days(DEFAULT_ONBOARDING_STUCK_DAYS),
        }
    }

    /// Scheduled runs missed since the last success (or creation), up to `missed_runs`.
    pub fn missed(&self, connection: &Connection, last: Option<&LastRun>, now: DateTime<Utc>) -> u32 {
        let since = match last.and_then(|l| l.last_success_at) {
            Some(success) => success + self.quiet_after_success,
            None => connection.created_at,
        };
        self.schedule.ticks_between(since, now - self.settle, self.missed_runs)
    }

    pub fn count(&self, report: &mut FleetReport, connection: &Connection, last: Option<&LastRun>, now: DateTime<Utc>) {
        if !connection.is_connected() {
            // Not run, so neither healthy nor stale: counted by its onboarding, enabled or not.
            report.onboarding += 1;
            if connection.stuck_onboarding(self.onboarding_stuck_after, now).is_some() {
                report.onboarding_stuck += 1;
            }
            return;
        }
        if !connection.enabled {
            return;
        }
        report.enabled += 1;
        match connection.health.as_ref().map(|h| h.state) {
            Some(HealthState::NeedsAction) => report.needs_action += 1,
            Some(HealthState::Degraded) => report.degraded += 1,
            Some(HealthState::Ok) => report.ok += 1,
            None => {}
        }
        if self.missed(connection, last, now) >= self.missed_runs {
            report.stale += 1;
        }
        if last
            .and_then(|l| l.undelivered_expiry)
            .is_some_and(|t| t <= now + self.expiry_horizon)
        {
            report.mail_expiring += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::schedule::testing::{WEEKDAYS, brussels};
    use super::*;
    use crate::EntityId;
    use crate::health::Health;
    use crate::ports::CredentialsRef;

    fn rules() -> FleetRules {
        FleetRules::new(Schedule::parse(WEEKDAYS, "Europe/Brussels").unwrap())
    }

    fn connection(created: DateTime<Utc>, health: Option<HealthState>) -> Connection {
        let mut c = Connection::new(
            EntityId::parse("0403170701").unwrap(),
            "x",
            CredentialsRef::Secret { secret_id: "s".into() },
            created,
        );
        c.health = health.map(|state| Health {
            state,
            since: created,
            action: None,
            reason: None,
        });
        c
    }

    fn succeeded(at: DateTime<Utc>) -> LastRun {
        LastRun {
            last_success_at: Some(at),
            undelivered_expiry: None,
        }
    }

    #[test]
    fn no_stale_connection_on_monday_morning_after_a_quiet_weekend() {
        let r = rules();
        let c = connection(brussels(1, 9, 0), Some(HealthState::Ok));
        // Its last success was Friday's last run; fanout runs Monday at 06:00.
        let friday = succeeded(brussels(4, 20, 2));
        assert_eq!(r.missed(&c, Some(&friday), brussels(7, 6, 0)), 0);
        let mut report = FleetReport::default();
        r.count(&mut report, &c, Some(&friday), brussels(7, 6, 0));
        assert_eq!((report.enabled, report.ok, report.stale), (1, 1, 0));
    }

    #[test]
    fn stale_after_three_scheduled_runs_in_a_row_without_success() {
        let r = rules();
        let c = connection(brussels(1, 9, 0), Some(HealthState::Degraded));
        let last = succeeded(brussels(7, 9, 2));
        // Monday 09:02 succeeded; 10:00 may have been a success left unwritten (unchanged);
        // 11:00, 12:00 and 13:00 are missed.
        assert_eq!(r.missed(&c, Some(&last), brussels(7, 12, 0)), 1, "12:00 still settling");
        assert_eq!(r.missed(&c, Some(&last), brussels(7, 12, 20)), 2);
        assert_eq!(r.missed(&c, Some(&last), brussels(7, 13, 20)), 3);
        let mut report = FleetReport::default();
        r.count(&mut report, &c, Some(&last), brussels(7, 12, 20));
        assert_eq!(report.stale, 0, "two missed");
        r.count(&mut report, &c, Some(&last), brussels(7, 13, 20));
        assert_eq!((report.enabled, report.degraded, report.stale), (2, 2, 1));
        // Across a weekend, too: Friday 18:02, then 20:00, Monday 06:00 and 07:00.
        let friday = succeeded(brussels(4, 18, 2));
        assert_eq!(r.missed(&c, Some(&friday), brussels(7, 6, 30)), 2);
        assert_eq!(r.missed(&c, Some(&friday), brussels(7, 7, 30)), 3);
    }

    #[test]
    fn a_connection_that_never_succeeded_counts_from_its_creation() {
        let r = rules();
        let new = connection(brussels(7, 9, 30), None);
        assert_eq!(r.missed(&new, None, brussels(7, 10, 20)), 1);
        assert_eq!(r.missed(&new, None, brussels(7, 12, 20)), 3);
        // A stored run without any success counts the same way.
        let failing = LastRun::default();
        assert_eq!(r.missed(&new, Some(&failing), brussels(7, 12, 20)), 3);
    }

    #[test]
    fn a_mixed_fleet_is_counted_by_state() {
        let r = rules();
        let now = brussels(7, 12, 20);
        let recent = succeeded(brussels(7, 12, 3));
        let mut expiring = recent.clone();
        expiring.undelivered_expiry = Some(now + Duration::days(6));
        let mut later = recent.clone();
        later.undelivered_expiry = Some(now + Duration::days(8));
        let mut disabled = connection(brussels(1, 9, 0), Some(HealthState::NeedsAction));
        disabled.enabled = false;
        let fleet = [
            (
                connection(brussels(1, 9, 0), Some(HealthState::Ok)),
                Some(recent.clone()),
            ),
            (connection(brussels(1, 9, 0), Some(HealthState::Ok)), Some(expiring)),
            (connection(brussels(1, 9, 0), Some(HealthState::Ok)), Some(later)),
            (connection(brussels(1, 9, 0), Some(HealthState::Degraded)), Some(recent)),
            (connection(brussels(1, 9, 0), Some(HealthState::NeedsAction)), None),
            (connection(brussels(7, 12, 10), None), None),
            (disabled, None),
        ];
        let mut report = FleetReport::default();
        for (c, last) in &fleet {
            r.count(&mut report, c, last.as_ref(), now);
        }
        assert_eq!(
            report,
            FleetReport {
                enabled: 6,
                ok: 3,
                degraded: 1,
                needs_action: 1,
                stale: 1,
                mail_expiring: 1,
                onboarding: 0,
                onboarding_stuck: 0,
            }
        );
    }

    #[test]
    fn the_last_run_is_read_from_a_stored_report() {
        use crate::run::{MessageFailure, ProviderReport, RunReport, Step};
        let at = |day, hour| Utc.with_ymd_and_hms(2026, 12, day, hour, 0, 0).unwrap();
        let failure = |expires_at| MessageFailure {
            message_id: "m".into(),
            step: Step::Attachment,
            reason: "r".into(),
            retryable: true,
            expires_at,
        };
        let mut report = RunReport::new("r".into(), "0403170701".into(), false, at(7, 11));
        report.last_success_at = Some(at(7, 10));
        report.providers = vec![
            ProviderReport {
                failed: vec![failure(Some(at(20, 0))), failure(None)],
                ..ProviderReport::default()
            },
            ProviderReport {
                failed: vec![failure(Some(at(10, 0)))],
                ..ProviderReport::default()
            },
        ];
        let last = LastRun::of_report(crate::run::StoredRun::Report(Box::new(report)));
        assert_eq!(last.last_success_at, Some(at(7, 10)));
        assert_eq!(last.undelivered_expiry, Some(at(10, 0)));
        // An older schema still gives its last success; nothing gives nothing.
        let old = crate::run::StoredRun::decode(r#"{"schema": "old", "last_success_at": "2026-12-07T10:00:00Z"}"#);
        assert_eq!(LastRun::of_report(old).last_success_at, Some(at(7, 10)));
        assert_eq!(
            LastRun::of_report(crate::run::StoredRun::decode("{}")),
            LastRun::default()
        );
    }
}
