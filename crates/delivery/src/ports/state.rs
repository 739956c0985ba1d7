//! An entity's state: leases, cursors, ledger, last run.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::EntityId;

use super::{Insert, StoreError};
pub use crate::run::{RunReport, StoredRun};
pub use crate::verdeelbak::message_json::Retrieval;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    Acquired,
    /// Another run holds the entity until `until`.
    HeldBy {
        holder: String,
        until: DateTime<Utc>,
    },
}

/// The lease a write is made under, by its holder's token: the store writes only while that
/// holder holds the lease (in the same conditional write), so a run taken over writes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence<'a>(pub &'a str);

/// An entity's lease. It holds while `now < until`: at `until` itself it is expired,
/// in every store.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the lease for `holder` until `until`, unless another holder has it unexpired at
    /// `now` (checked in the conditional write). Its holder takes it again (a lost answer).
    async fn acquire(
        &self,
        entity: &EntityId,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<LeaseOutcome, StoreError>;
    /// Extends the lease to `until` if `holder` still has it, expired or not; returns whether it did.
    async fn renew(&self, entity: &EntityId, holder: &str, until: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Releases the lease if `holder` still has it; returns whether it did.
    async fn release(&self, entity: &EntityId, holder: &str) -> Result<bool, StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorOutcome {
    Advanced,
    /// The stored cursor is later than the proposed one; it was left alone.
    WouldMoveBackwards {
        current: DateTime<Utc>,
    },
}

/// Where the last complete walk of one provider got to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    pub position: DateTime<Utc>,
    /// Delivered messages received shortly before `position`, with their receipt times (only
    /// ids the ledger holds): the next, overlapping walk finds them here, not in the ledger.
    pub recent: BTreeMap<String, DateTime<Utc>>,
    /// Unreadable list items by the SHA-256 of their JSON, with when first seen: the cursor
    /// holds back for each for a while.
    pub unreadable: BTreeMap<String, DateTime<Utc>>,
    /// The URL of the registry the last walk read ("" before it was kept).
    pub registry_url: String,
    /// Other ids discovery gave this registry (a rename, a move to v3): its messages stay
    /// under this cursor's id.
    pub also_known_as: std::collections::BTreeSet<String>,
}

/// How far back a walk of one provider looks; the ledger, not the cursor, says what was delivered.
#[async_trait]
pub trait CursorStore: Send + Sync {
    /// Stores `cursor` unless the stored position is later: a cursor never moves back.
    /// Fenced: refused with [`StoreError::lease_lost`] once `fence` no longer holds.
    async fn advance(
        &self,
        entity: &EntityId,
        provider_id: &str,
        cursor: &Cursor,
        fence: Fence<'_>,
    ) -> Result<CursorOutcome, StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub until: DateTime<Utc>,
}

/// Everything of one entity's state except the ledger.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntityState {
    pub lease: Option<Lease>,
    /// By provider id.
    pub cursors: BTreeMap<String, Cursor>,
    pub last_run: Option<StoredRun>,
}

#[async_trait]
pub trait StateSnapshots: Send + Sync {
    /// The entity's lease, cursors and last run in one read: all an idle run reads besides
    /// its connection.
    async fn snapshot(&self, entity: &EntityId) -> Result<EntityState, StoreError>;
}

/// What the ledger keeps of one delivered message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub provider_id: String,
    pub message_id: String,
    pub delivered_at: DateTime<Utc>,
    /// Key of the message's `message.json`.
    pub message_key: String,
    /// Hex SHA-256 of `message.json`.
    pub message_sha256: String,
    /// When e-Box drops the message; then its ledger row may go too.
    pub expires_at: Option<DateTime<Utc>>,
    /// Its event is still to be published (the outbox): cleared once the bus took it.
    #[serde(default)]
    pub event_pending: bool,
}

impl LedgerEntry {
    /// Whether `other` records the same `message.json` (key and digest); times are left out,
    /// as a store may keep them less precisely.
    pub fn same_delivery(&self, other: &LedgerEntry) -> bool {
        self.message_key == other.message_key && self.message_sha256 == other.message_sha256
    }
}

#[async_trait]
pub trait Ledger: Send + Sync {
    /// Records a delivery once: again is `AlreadyExists`, unless it is this very entry (a
    /// retried write whose answer was lost): `Inserted`.
    ///
    /// Not fenced, unlike the cursor and the status: a row is written once, after its
    /// `message.json` is complete, so a run that lost its lease writes nothing untrue, and a
    /// fence would cost a transaction per message. The run checks its lease first.
    async fn record(&self, entity: &EntityId, entry: &LedgerEntry) -> Result<Insert, StoreError>;
    /// Records several deliveries, each as [`Ledger::record`] would, in as few round trips
    /// as the store allows; the answers in the order of `entries`.
    async fn record_many(&self, entity: &EntityId, entries: &[LedgerEntry]) -> Vec<Result<Insert, StoreError>> {
        let mut answers = Vec::with_capacity(entries.len());
        for entry in entries {
            answers.push(self.record(entity, entry).await);
        }
        answers
    }
    /// Which of these messages of one provider are delivered (one round trip per 100).
    async fn delivered_among(
        &self,
        entity: &EntityId,
        provider_id: &str,
        message_ids: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError>;
    /// The delivery's event was published: its row is no longer pending.
    async fn event_published(&self, entity: &EntityId, provider_id: &str, message_id: &str) -> Result<(), StoreError>;
    /// Up to `limit` rows of the entity whose event is still pending.
    async fn pending_events(&self, entity: &EntityId, limit: usize) -> Result<Vec<LedgerEntry>, StoreError>;
    /// The entity's rows delivered at or after `since` (all of them without), for a replay.
    async fn delivered_since(
        &self,
        entity: &EntityId,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<LedgerEntry>, StoreError>;
    /// Keeps the facts of a message's retrieval, until `keep_until`, just before fetching its
    /// main content marks it read in e-Box; facts kept already stay and are returned, so a
    /// run that dies before its `message.json` leaves them to the next attempt.
    async fn note_retrieval(
        &self,
        entity: &EntityId,
        message: &MessageRef<'_>,
        retrieval: Retrieval,
        keep_until: DateTime<Utc>,
    ) -> Result<Retrieval, StoreError>;
    /// Keeps the facts of several messages' retrievals, each as [`Ledger::note_retrieval`]
    /// would, in as few round trips as the store allows; the facts kept, in order.
    async fn note_retrievals(
        &self,
        entity: &EntityId,
        notes: &[RetrievalNote<'_>],
    ) -> Vec<Result<Retrieval, StoreError>> {
        let mut kept = Vec::with_capacity(notes.len());
        for note in notes {
            kept.push(
                self.note_retrieval(entity, &note.message, note.retrieval, note.keep_until)
                    .await,
            );
        }
        kept
    }
    /// The facts kept of a message's retrieval, if any.
    async fn noted_retrieval(
        &self,
        entity: &EntityId,
        message: &MessageRef<'_>,
    ) -> Result<Option<Retrieval>, StoreError>;
}

/// The facts of a message's retrieval, to keep until `keep_until` (see [`Ledger::note_retrieval`]).
#[derive(Debug, Clone, Copy)]
pub struct RetrievalNote<'a> {
    pub message: MessageRef<'a>,
    pub retrieval: Retrieval,
    pub keep_until: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy)]
pub struct MessageRef<'a> {
    pub provider_id: &'a str,
    pub message_id: &'a str,
}

/// Reads of single state items, for operators and tests (the engine reads snapshots).
#[async_trait]
pub trait StateInspection: Send + Sync {
    async fn cursor(&self, entity: &EntityId, provider_id: &str) -> Result<Option<Cursor>, StoreError>;
    async fn ledger_entry(
        &self,
        entity: &EntityId,
        provider_id: &str,
        message_id: &str,
    ) -> Result<Option<LedgerEntry>, StoreError>;
}

#[async_trait]
pub trait RunReportStore: Send + Sync {
    /// Stores the last run's status; fenced when the run wrote under a lease.
    async fn put_last(&self, entity: &EntityId, report: &RunReport, fence: Option<Fence<'_>>)
    -> Result<(), StoreError>;
    async fn get_last(&self, entity: &EntityId) -> Result<Option<StoredRun>, StoreError>;
    /// The stored last runs of many entities (those without one left out), for the fleet.
    async fn get_last_many(&self, entities: &[EntityId]) -> Result<Vec<(EntityId, StoredRun)>, StoreError> {
        let mut found = Vec::with_capacity(entities.len());
        for entity in entities {
            if let Some(report) = self.get_last(entity).await? {
                found.push((entity.clone(), report));
            }
        }
        Ok(found)
    }
}
