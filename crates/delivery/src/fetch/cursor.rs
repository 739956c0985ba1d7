//! Where a provider's cursor goes after a complete walk: pure rules.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::RECENT_LIMIT;
use super::tally::Tally;
use crate::ports::Cursor;

/// The cursor with the registry's URL, and the id discovery gave it when that is not the
/// cursor's own: the next run knows the registry by both.
pub(super) fn known_as(mut cursor: Cursor, own_id: &str, listed: &ebox::model::MessageProvider) -> Cursor {
    cursor.registry_url = listed.message_provider_url.clone();
    if listed.message_provider_id != own_id {
        cursor.also_known_as.insert(listed.message_provider_id.clone());
    }
    cursor
}

/// The position the cursor may move to: the newest message the walk saw, but never past
/// one that failed; and where it is (or nowhere, from the start) while something it must
/// not pass has no place in time (a failed message without a date, an unreadable item it
/// still waits for).
pub(super) fn target(tally: &Tally<'_>, current: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    if tally.hold {
        return Some(current.unwrap_or(DateTime::UNIX_EPOCH));
    }
    match tally.oldest_failed {
        Some(failed) => Some(tally.newest_seen.map_or(failed, |n| n.min(failed))),
        None => tally.newest_seen,
    }
}

/// The cursor after a complete walk: at `target` but never back, remembering the
/// delivered messages that the next walk lists again (received after the day the next
/// walk starts from), the newest [`RECENT_LIMIT`] of them, and the unreadable items this
/// walk saw. A first walk that saw nothing leaves a cursor at the start: the registry
/// is known from then on, so later walks neither list its hidden mail nor look for it
/// under another id, each run.
pub(super) fn next(
    before: Option<&Cursor>,
    target: Option<DateTime<Utc>>,
    delivered: Vec<(String, DateTime<Utc>)>,
    unreadable: BTreeMap<String, DateTime<Utc>>,
    overlap: chrono::Duration,
) -> Cursor {
    let position = match (before.map(|c| c.position), target) {
        (Some(b), Some(t)) => b.max(t),
        (b, t) => b.or(t).unwrap_or(DateTime::UNIX_EPOCH),
    };
    let listed_after = (position - overlap).date_naive();
    let mut recent: Vec<(String, DateTime<Utc>)> = before
        .into_iter()
        .flat_map(|c| c.recent.iter().map(|(id, at)| (id.clone(), *at)))
        .chain(delivered)
        .filter(|(_, at)| at.date_naive() > listed_after)
        .collect();
    // Newest first; a message seen twice is kept once.
    recent.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut kept = BTreeMap::new();
    for (id, at) in recent {
        if kept.len() == RECENT_LIMIT {
            break;
        }
        kept.entry(id).or_insert(at);
    }
    Cursor {
        position,
        recent: kept,
        unreadable,
        ..before.cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::fetch::ProviderReport;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
    }

    fn cursor(position: DateTime<Utc>, recent: &[(&str, DateTime<Utc>)]) -> Cursor {
        Cursor {
            position,
            recent: recent.iter().map(|(id, t)| ((*id).to_owned(), *t)).collect(),
            ..Cursor::default()
        }
    }

    fn delivered(list: &[(&str, DateTime<Utc>)]) -> Vec<(String, DateTime<Utc>)> {
        list.iter().map(|(id, t)| ((*id).to_owned(), *t)).collect()
    }

    const OVERLAP: chrono::Duration = chrono::Duration::days(2);

    fn tally(newest: Option<DateTime<Utc>>, failed: Option<DateTime<Utc>>, hold: bool) -> Tally<'static> {
        let mut t = Tally::new(ProviderReport::default(), None, at(20, 0), chrono::Duration::days(3));
        t.newest_seen = newest;
        t.oldest_failed = failed;
        t.hold = hold;
        t
    }

    #[test]
    fn the_target_is_the_newest_seen_but_never_past_a_failure_or_a_hold() {
        assert_eq!(target(&tally(Some(at(10, 0)), None, false), None), Some(at(10, 0)));
        assert_eq!(
            target(&tally(Some(at(10, 0)), Some(at(8, 0)), false), Some(at(1, 0))),
            Some(at(8, 0))
        );
        assert_eq!(
            target(&tally(None, None, false), Some(at(1, 0))),
            None,
            "nothing seen: no move"
        );
        assert_eq!(
            target(&tally(Some(at(10, 0)), None, true), Some(at(5, 0))),
            Some(at(5, 0))
        );
        assert_eq!(
            target(&tally(Some(at(10, 0)), None, true), None),
            Some(DateTime::UNIX_EPOCH),
            "held with no cursor yet: from the start"
        );
    }

    #[test]
    fn a_cursor_remembers_what_the_next_walk_lists_again() {
        // The next walk starts after 8 March (10 March minus two days): a message of the
        // 8th is not listed again, one of the 9th is.
        let moved = next(
            None,
            Some(at(10, 12)),
            delivered(&[("old", at(8, 23)), ("m9", at(9, 1)), ("m10", at(10, 12))]),
            Default::default(),
            OVERLAP,
        );
        assert_eq!(moved, cursor(at(10, 12), &[("m9", at(9, 1)), ("m10", at(10, 12))]));
    }

    #[test]
    fn a_cursor_never_moves_back_and_forgets_what_falls_out_of_the_window() {
        let before = cursor(at(10, 12), &[("m9", at(9, 1)), ("m10", at(10, 12))]);
        // An older target (a failed message) leaves the position where it is.
        let same = next(
            Some(&before),
            Some(at(9, 0)),
            delivered(&[("m9", at(9, 1))]),
            Default::default(),
            OVERLAP,
        );
        assert_eq!(same, before, "nothing new: the same cursor, so no write");
        let moved = next(
            Some(&before),
            Some(at(12, 8)),
            delivered(&[("m12", at(12, 8))]),
            Default::default(),
            OVERLAP,
        );
        assert_eq!(
            moved,
            cursor(at(12, 8), &[("m12", at(12, 8))]),
            "the walk after 10 March no longer lists the 9th or the 10th"
        );
        assert_eq!(
            next(None, None, Vec::new(), Default::default(), OVERLAP),
            Cursor::default(),
            "a first walk that saw nothing: a cursor at the start"
        );
    }

    #[test]
    fn a_cursor_keeps_the_newest_messages_up_to_its_limit() {
        let many: Vec<(String, DateTime<Utc>)> = (0..RECENT_LIMIT as i64 + 10)
            .map(|n| (format!("m{n:05}"), at(10, 0) + chrono::Duration::seconds(n)))
            .collect();
        let newest = many.last().unwrap().1;
        let moved = next(None, Some(newest), many, Default::default(), OVERLAP);
        assert_eq!(moved.recent.len(), RECENT_LIMIT);
        assert!(
            !moved.recent.contains_key("m00009"),
            "the oldest are left to the ledger"
        );
        assert!(moved.recent.contains_key("m00010"));
    }

    #[test]
    fn a_cursor_keeps_the_unreadable_items_of_its_walk() {
        let held = BTreeMap::from([("abc".to_owned(), at(9, 0))]);
        let moved = next(None, Some(at(10, 0)), Vec::new(), held.clone(), OVERLAP);
        assert_eq!(moved.unreadable, held);
    }
}
