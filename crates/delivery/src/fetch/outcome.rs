//! What the steps of a walk hand each other: pure data, no I/O. A listed item as the
//! ledger sees it ([`Seen`]), what became of it ([`Done`]), and of a delivery
//! ([`Delivery`]); the tally turns them into the walk's account.

use chrono::{DateTime, Utc};
use ebox::model::{ListedMessage, UnreadableItem};

use super::failure::Failure;

/// A listed item, as the ledger sees it.
pub(super) enum Seen {
    Known(String, Option<DateTime<Utc>>),
    Fresh(Box<ListedMessage>),
    Unreadable(Box<UnreadableItem>),
    Stop(String, Option<crate::health::Action>),
}

/// What became of one listed item.
pub(super) enum Done {
    /// The ledger (or the cursor) knows it.
    Known(String, Option<DateTime<Utc>>),
    /// New, but another run holds the lease (or it could not be taken): not attempted.
    NoLease,
    /// New, but time was short: not started.
    NotStarted,
    /// A dry run: the keys a real run would write.
    Planned(Vec<String>),
    /// The listing or the ledger failed here; nothing after it.
    Stopped(String, Option<crate::health::Action>),
    /// Not a readable message; kept raw under this key, or not.
    Unreadable(Box<UnreadableItem>, Result<String, Failure>),
    Delivered(Box<ListedMessage>, Delivery),
}

/// What became of a message the ledger did not know.
pub(super) enum Delivery {
    New {
        bytes: u64,
    },
    /// Complete in the verdeelbak already (a run died before its ledger row): only the
    /// ledger row was written now.
    Completed,
    /// Another run recorded it in the meantime.
    AlreadyRecorded,
    /// Not delivered; the run goes on, and the next one tries again.
    Failed(Failure),
}
