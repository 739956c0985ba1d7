//! What a provider's walk saw, message by message: pure bookkeeping, no I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ebox::model::{ListedMessage, UnreadableItem};

use super::failure::Failure;
use super::outcome::{Delivery, Done};
use super::{MessageFailure, ProviderReport, UnreadableReport};
use crate::ports::Cursor;

/// The running account of one walk, and what its cursor needs.
pub(super) struct Tally<'a> {
    pub report: ProviderReport,
    pub newest_seen: Option<DateTime<Utc>>,
    pub oldest_failed: Option<DateTime<Utc>>,
    /// The cursor must stay where it is (see [`super::cursor::target`]).
    pub hold: bool,
    /// Every listed item was looked at; the cursor may move.
    pub complete: bool,
    /// Every listed message known to be delivered, for the cursor to remember.
    pub delivered: Vec<(String, DateTime<Utc>)>,
    /// The unreadable items of this walk, by the SHA-256 of their JSON, first seen when.
    pub unreadable: BTreeMap<String, DateTime<Utc>>,
    /// A reconcile walk: the day on and before which the incremental walk no longer
    /// lists (its `receivedAfter`). A new message from then was out of its sight.
    pub out_of_sight_from: Option<chrono::NaiveDate>,
    before: Option<&'a Cursor>,
    now: DateTime<Utc>,
    hold_for: chrono::Duration,
}

impl<'a> Tally<'a> {
    pub(super) fn new(
        report: ProviderReport,
        before: Option<&'a Cursor>,
        now: DateTime<Utc>,
        hold_for: chrono::Duration,
    ) -> Self {
        Self {
            report,
            newest_seen: None,
            oldest_failed: None,
            hold: false,
            complete: true,
            delivered: Vec::new(),
            unreadable: BTreeMap::new(),
            out_of_sight_from: None,
            before,
            now,
            hold_for,
        }
    }

    /// Whether the incremental walk could not have listed this message.
    fn out_of_sight(&self, m: &ListedMessage) -> bool {
        self.out_of_sight_from
            .is_some_and(|bound| m.message.receipt_date.is_none_or(|r| r.date_naive() <= bound))
    }

    fn seen(&mut self, id: &str, receipt: Option<DateTime<Utc>>) {
        if let Some(receipt) = receipt {
            self.newest_seen = Some(self.newest_seen.map_or(receipt, |n| n.max(receipt)));
            self.delivered.push((id.to_owned(), receipt));
        }
    }

    pub(super) fn add(&mut self, done: Done) {
        let r = &mut self.report;
        match done {
            Done::Known(id, receipt) => {
                r.listed += 1;
                r.already_delivered += 1;
                self.seen(&id, receipt);
            }
            Done::NoLease | Done::NotStarted => {
                r.listed += 1;
                r.new += 1;
                self.complete = false;
            }
            Done::Planned(keys) => {
                r.listed += 1;
                r.new += 1;
                r.would_write.extend(keys);
            }
            Done::Stopped(reason, action) => {
                r.error = Some(reason);
                r.needs_action = r.needs_action.or(action);
                self.complete = false;
            }
            Done::Unreadable(item, kept) => {
                r.listed += 1;
                self.unreadable_item(&item, kept);
            }
            Done::Delivered(m, delivery) => {
                r.listed += 1;
                r.new += 1;
                if self.out_of_sight(&m) && !matches!(delivery, Delivery::AlreadyRecorded) {
                    tracing::warn!(message_id = %m.message.message_id, receipt_date = ?m.message.receipt_date, "reconcile: listed, older than the incremental walk reaches, and not in the ledger");
                    self.report.found_missing += 1;
                }
                self.delivery(&m, delivery);
            }
        }
    }

    fn unreadable_item(&mut self, item: &UnreadableItem, kept: Result<String, Failure>) {
        // Known by the hash of its JSON: an item with any id is read as a message.
        let (_, identity) = item.stored_bytes();
        // To the millisecond, as the cursor keeps it.
        let first_seen = self
            .before
            .and_then(|c| c.unreadable.get(&identity).copied())
            .unwrap_or_else(|| chrono::SubsecRound::trunc_subsecs(self.now, 3));
        let held_until = first_seen + self.hold_for;
        // Until the hold is over the cursor waits for it, so that each walk looks at it
        // again; then it moves on, and the raw copy stays.
        self.hold |= held_until > self.now || kept.is_err();
        tracing::warn!(message_id = ?item.message_id, reason = %item.reason, "a list item is not a readable message; kept raw");
        self.report.unreadable.push(UnreadableReport {
            message_id: item.message_id.clone(),
            reason: item.reason.clone(),
            key: kept.as_ref().ok().cloned(),
            error: kept.as_ref().err().map(ToString::to_string),
            first_seen,
            held_until,
        });
        // Only what is kept is remembered: what is not is tried again, and held for.
        if kept.is_ok() {
            self.unreadable.insert(identity, first_seen);
        }
    }

    fn delivery(&mut self, m: &ListedMessage, delivery: Delivery) {
        let (id, receipt) = (&m.message.message_id, m.message.receipt_date);
        match delivery {
            Delivery::New { bytes } => {
                self.report.delivered += 1;
                self.report.bytes += bytes;
                self.seen(id, receipt);
            }
            // Its ledger row is this run's: delivered now, as far as anyone downstream knows.
            Delivery::Completed => {
                tracing::info!(message_id = %id, "complete in the verdeelbak already; only its ledger row was missing");
                self.report.delivered += 1;
                self.seen(id, receipt);
            }
            Delivery::AlreadyRecorded => {
                self.report.already_delivered += 1;
                self.seen(id, receipt);
            }
            Delivery::Failed(failure) => {
                tracing::warn!(message_id = %id, step = %failure.step(), error = %failure, "message not delivered; the next run tries again");
                match receipt {
                    Some(r) => self.oldest_failed = Some(self.oldest_failed.map_or(r, |o| o.min(r))),
                    // Without a date there is no telling where it is: the cursor stays.
                    None => self.hold = true,
                }
                self.report.failed.push(MessageFailure {
                    message_id: id.clone(),
                    step: failure.step(),
                    reason: failure.to_string(),
                    retryable: failure.retryable(),
                    expires_at: m.message.expiration_date,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::fetch::Step;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, 12, 0, 0).unwrap()
    }

    fn message(id: &str, receipt: Option<DateTime<Utc>>) -> Box<ListedMessage> {
        let mut raw = json!({"messageId": id});
        if let Some(r) = receipt {
            raw["receiptDate"] = json!(r.to_rfc3339());
        }
        match ebox::model::Listed::from_value(&raw) {
            ebox::model::Listed::Message(m) => m,
            other => panic!("{other:?}"),
        }
    }

    fn failure() -> Delivery {
        Delivery::Failed(Failure::Refused {
            step: Step::Attachment,
            detail: "digest".into(),
            retryable: false,
        })
    }

    fn unreadable(raw: serde_json::Value) -> Box<UnreadableItem> {
        match ebox::model::Listed::from_value(&raw) {
            ebox::model::Listed::Unreadable(u) => Box::new(u),
            other => panic!("{other:?}"),
        }
    }

    const HOLD: chrono::Duration = chrono::Duration::days(3);

    #[test]
    fn counts_and_the_cursor_inputs_follow_what_became_of_each_item() {
        let mut t = Tally::new(ProviderReport::default(), None, at(20), HOLD);
        t.add(Done::Known("k".into(), Some(at(5))));
        t.add(Done::Delivered(message("n", Some(at(9))), Delivery::New { bytes: 10 }));
        t.add(Done::Delivered(message("a", Some(at(7))), Delivery::AlreadyRecorded));
        t.add(Done::Delivered(message("f", Some(at(6))), failure()));
        t.add(Done::Delivered(message("g", Some(at(8))), failure()));
        let r = &t.report;
        assert_eq!(
            (r.listed, r.new, r.delivered, r.already_delivered, r.bytes),
            (5, 4, 1, 2, 10)
        );
        assert_eq!(r.failed.len(), 2);
        assert_eq!((t.newest_seen, t.oldest_failed), (Some(at(9)), Some(at(6))));
        assert_eq!(t.delivered.len(), 3);
        assert!(t.complete && !t.hold);
    }

    #[test]
    fn a_reconcile_counts_what_the_incremental_walk_could_not_see() {
        let mut t = Tally::new(ProviderReport::default(), None, at(20), HOLD);
        t.out_of_sight_from = Some(at(10).date_naive());
        t.add(Done::Known("k".into(), Some(at(2))));
        t.add(Done::Delivered(message("old", Some(at(3))), Delivery::New { bytes: 1 }));
        t.add(Done::Delivered(message("edge", Some(at(10))), failure()));
        t.add(Done::Delivered(message("undated", None), Delivery::Completed));
        t.add(Done::Delivered(
            message("raced", Some(at(4))),
            Delivery::AlreadyRecorded,
        ));
        t.add(Done::Delivered(
            message("new", Some(at(11))),
            Delivery::New { bytes: 1 },
        ));
        assert_eq!(t.report.found_missing, 3, "old, edge (the bound's own day) and undated");
        let mut normal = Tally::new(ProviderReport::default(), None, at(20), HOLD);
        normal.add(Done::Delivered(message("old", Some(at(3))), Delivery::New { bytes: 1 }));
        assert_eq!(normal.report.found_missing, 0, "only a reconcile counts");
    }

    #[test]
    fn what_was_not_looked_at_leaves_the_walk_incomplete() {
        for done in [
            Done::NoLease,
            Done::NotStarted,
            Done::Stopped("listing: 503".into(), None),
        ] {
            let mut t = Tally::new(ProviderReport::default(), None, at(20), HOLD);
            t.add(done);
            assert!(!t.complete);
        }
        let mut t = Tally::new(ProviderReport::default(), None, at(20), HOLD);
        t.add(Done::Planned(vec!["k".into()]));
        assert!(t.complete, "a dry run looked at it");
        assert_eq!(t.report.would_write, ["k"]);
    }

    #[test]
    fn a_failure_without_a_date_and_a_fresh_unreadable_item_hold_the_cursor() {
        let mut t = Tally::new(ProviderReport::default(), None, at(20), HOLD);
        t.add(Done::Delivered(message("f", None), failure()));
        assert!(t.hold);

        let item = unreadable(json!({"subject": "no id"}));
        let (_, sha) = item.stored_bytes();
        let mut fresh = Tally::new(ProviderReport::default(), None, at(20), HOLD);
        fresh.add(Done::Unreadable(item.clone(), Ok("key".into())));
        assert!(fresh.hold);
        assert_eq!(fresh.unreadable.get(&sha), Some(&at(20)));
        assert_eq!(fresh.report.unreadable[0].held_until, at(23));

        // Seen four days ago: the hold is over, the cursor may move; it stays reported.
        let before = Cursor {
            unreadable: BTreeMap::from([(sha.clone(), at(16))]),
            ..Cursor::default()
        };
        let mut old = Tally::new(ProviderReport::default(), Some(&before), at(20), HOLD);
        old.add(Done::Unreadable(item.clone(), Ok("key".into())));
        assert!(!old.hold);
        assert_eq!(old.report.unreadable[0].first_seen, at(16));
        // Not kept: the cursor waits, whatever the hold.
        let mut lost = Tally::new(ProviderReport::default(), Some(&before), at(20), HOLD);
        lost.add(Done::Unreadable(
            item,
            Err(Failure::Refused {
                step: Step::Store,
                detail: "S3 down".into(),
                retryable: true,
            }),
        ));
        assert!(lost.hold);
        assert_eq!(lost.report.unreadable[0].error.as_deref(), Some("S3 down"));
    }
}
