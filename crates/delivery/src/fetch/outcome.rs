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

/// A message whose `message.json` is stored: its event and its ledger row are what is
/// left, written with other messages' (see [`super::deliver::Deliverer::record_all`]).
pub(super) struct Stored {
    pub message_key: String,
    pub message_json: bytes::Bytes,
    /// The bytes this run stored; none when an earlier run had stored the message whole
    /// and only its row is new.
    pub bytes: Option<u64>,
}

impl Stored {
    /// What the delivery is when its row is new.
    pub(super) fn delivered(&self) -> Delivery {
        match self.bytes {
            Some(bytes) => Delivery::New { bytes },
            None => Delivery::Completed,
        }
    }
}

/// A listed item as the walk hands it to its deliveries.
pub(super) enum Next {
    /// A new message whose delivery starts, with the retrieval facts kept for it when it is
    /// listed as unread.
    Start(Box<ebox::model::ListedMessage>, Option<Noted>),
    /// Not a readable message: to be kept raw.
    Unreadable(Box<UnreadableItem>),
    /// Nothing to do for it.
    Done(Done),
}

/// What handling a listed item gives: done, or stored and still to be recorded.
pub(super) enum Handled {
    Done(Done),
    Stored(Box<ebox::model::ListedMessage>, Stored),
}

/// A message's retrieval facts as kept before its delivery, and whether this is its first
/// attempt.
pub(super) type Noted = Result<(super::retrieval::Retrieval, bool), Failure>;
