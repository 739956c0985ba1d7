//! When an entity's reconcile is due: a walk of everything e-Box holds, once per interval,
//! at a moment of the interval of the entity's own, so that the fleet's reconciles spread
//! over the day instead of all falling on one tick. Pure rules.

use chrono::{DateTime, Duration, Utc};
use sha2::Digest;

use super::{ProviderStatus, RunReport};
use crate::EntityId;

/// Where in each interval the entity's reconcile falls, from its number: stable across
/// runs and processes, spread evenly over the fleet.
pub(super) fn offset(entity: &EntityId, interval: Duration) -> Duration {
    let digest = sha2::Sha256::digest(entity.as_str().as_bytes());
    let n = u64::from_be_bytes(digest[..8].try_into().expect("eight bytes"));
    let seconds = interval.num_seconds().max(1) as u64;
    Duration::seconds((n % seconds) as i64)
}

/// Whether a reconcile is due at `now`: the entity's moment in the interval has come since
/// the last reconcile (or, without one, since the previous run), and the last reconcile
/// is at least half an interval old, so that one forced by hand shortly before the
/// entity's moment is not followed by another at that moment.
pub(super) fn due(
    entity: &EntityId,
    last_reconcile: Option<DateTime<Utc>>,
    previous_run: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    interval: Duration,
) -> bool {
    let Some(since) = last_reconcile.or(previous_run) else {
        // A first run lists everything anyway: it has no cursor.
        return false;
    };
    let period = interval.num_seconds().max(1);
    let start = DateTime::UNIX_EPOCH + offset(entity, interval);
    let slot = |t: DateTime<Utc>| (t - start).num_seconds().div_euclid(period);
    let rested = last_reconcile.is_none_or(|last| (now - last).num_seconds() >= period / 2);
    slot(now) > slot(since) && rested
}

/// A reconcile's account: what it found, and, once every provider was walked to its end,
/// that it was done (until then the next run reconciles again).
pub(super) fn account(report: &mut RunReport, now: DateTime<Utc>) {
    let found = report.providers.iter().map(|p| p.found_missing).sum::<u64>();
    report.reconcile_found_missing = Some(found);
    if found > 0 {
        tracing::warn!(
            found,
            "reconcile: messages the incremental walk had missed, delivered now"
        );
    }
    let complete = report
        .providers
        .iter()
        .all(|p| p.state != ProviderStatus::Read || p.walk_complete);
    if complete && !report.dry_run {
        report.last_reconcile_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const DAY: Duration = Duration::days(1);

    fn entity(n: u64) -> EntityId {
        EntityId::parse(&format!("{n:08}{:02}", 97 - n % 97)).unwrap()
    }

    #[test]
    fn due_once_a_day_at_the_entity_s_own_moment() {
        let e = entity(1);
        let moment = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap() + offset(&e, DAY);
        // The last reconcile half a day before the entity's moment.
        let before = moment - Duration::hours(13);
        let after = moment + Duration::minutes(1);
        assert!(due(&e, Some(before), None, after, DAY), "its moment passed");
        assert!(
            !due(&e, Some(after), None, after + Duration::hours(23), DAY),
            "not twice a day"
        );
        assert!(due(&e, Some(after), None, after + DAY, DAY), "the next day");
        assert!(!due(&e, None, None, after, DAY), "a first run lists everything anyway");
        assert!(
            due(&e, None, Some(before), after, DAY),
            "without a reconcile, since the previous run"
        );
        // A weekend without runs: one reconcile on Monday, not three.
        assert!(due(&e, Some(before), None, after + Duration::days(3), DAY));
    }

    #[test]
    fn a_reconcile_by_hand_just_before_the_moment_is_not_followed_by_another() {
        let e = entity(7);
        let moment = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap() + offset(&e, DAY);
        let by_hand = moment - Duration::minutes(30);
        assert!(!due(&e, Some(by_hand), None, moment + Duration::minutes(5), DAY));
        assert!(!due(&e, Some(by_hand), None, moment + Duration::hours(11), DAY));
        assert!(
            due(&e, Some(by_hand), None, moment + DAY, DAY),
            "the day after, at its moment"
        );
        // Wherever the moment falls in the day relative to a reconcile by hand, the next
        // one comes at least half a day and at most two days later.
        for minutes in (0..24 * 60).step_by(17) {
            let forced = moment + Duration::minutes(minutes);
            let next = (1..=48 * 4)
                .map(|q| forced + Duration::minutes(15 * q))
                .find(|t| due(&e, Some(forced), None, *t, DAY))
                .expect("a next reconcile within two days");
            let gap = next - forced;
            assert!(
                gap >= Duration::hours(12) && gap <= Duration::hours(48),
                "{minutes}: {gap}"
            );
        }
    }

    #[test]
    fn the_fleet_spreads_over_the_day() {
        let mut hours = [0u32; 24];
        for n in 0..2400 {
            hours[(offset(&entity(n), DAY).num_hours()) as usize] += 1;
        }
        assert!(hours.iter().all(|&h| (60..=140).contains(&h)), "{hours:?}");
    }
}
