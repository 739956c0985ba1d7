//! The pure rule of a run's status: whether it is due.

use super::RunReport;

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
