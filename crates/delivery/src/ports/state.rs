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

/// The lease a write is made under: its holder's token. A store makes the write only
/// while that holder still holds the entity's lease, in the same conditional write, so a
/// run whose lease was taken over cannot write over the run that took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence<'a>(pub &'a str);

/// An entity's lease. It holds while `now < until`: at `until` itself it is expired,
/// in every store.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the entity's lease for `holder` until `until`, unless another holder has it
    /// and it has not expired at `now`. The expiry check is part of the conditional write;
    /// taking it again as its holder succeeds (a retried write whose answer was lost).
    async fn acquire(
        &self,
        entity: &EntityId,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<LeaseOutcome, StoreError>;
    /// Extends the lease to `until` if `holder` still has it (expired or not, as long as
    /// nobody took it over); returns whether it did.
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
    /// Messages received shortly before `position` that are delivered, with their receipt
    /// times. The next walk lists them again (it overlaps the previous one) and finds them
    /// here instead of asking the ledger, so a run with nothing new reads no ledger row.
    /// Only ids the ledger holds are ever put here.
    pub recent: BTreeMap<String, DateTime<Utc>>,
    /// List items that were not readable messages, by the SHA-256 of their JSON, with
    /// when they were first seen: the cursor holds back for each for a while.
    pub unreadable: BTreeMap<String, DateTime<Utc>>,
    /// The URL of the registry the last walk read ("" before it was kept).
    pub registry_url: String,
    /// Other ids discovery gave this same registry (a rename, a change of discovery
    /// endpoint, a move from v2 to v3): its messages stay under this cursor's id.
    pub also_known_as: std::collections::BTreeSet<String>,
}

/// How far back a walk of one provider has to look. The ledger, not the cursor, says
/// what was delivered; the cursor only bounds the walk.
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

/// Who holds an entity's lease, and until when.
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
    /// The entity's lease, cursors and last run, read together (one DynamoDB query), so a
    /// run with nothing to do costs one read besides its connection.
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
    /// When e-Box drops the message; after that it cannot come back, so the ledger row
    /// may go too.
    pub expires_at: Option<DateTime<Utc>>,
    /// Its event is still to be published (the transactional outbox): set when the row
    /// is recorded, cleared once the bus took the event.
    #[serde(default)]
    pub event_pending: bool,
}

impl LedgerEntry {
    /// Whether `other` records the same delivery: the same `message.json`, by key and
    /// digest. Times are left out, as a store may keep them less precisely.
    pub fn same_delivery(&self, other: &LedgerEntry) -> bool {
        self.message_key == other.message_key && self.message_sha256 == other.message_sha256
    }
}

#[async_trait]
pub trait Ledger: Send + Sync {
    /// Records a delivery once; a second record of the same message is `AlreadyExists`,
    /// unless it is this very entry (a retried write whose answer was lost): `Inserted`.
    ///
    /// Not fenced in the store, unlike the cursor and the status: a row is created once,
    /// only after its message's `message.json` is complete, so one written by a run that
    /// lost its lease says nothing untrue; fencing it would cost a transaction per message.
    /// The run checks its lease before it writes one.
    async fn record(&self, entity: &EntityId, entry: &LedgerEntry) -> Result<Insert, StoreError>;
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
    /// Keeps the facts of a message's retrieval just before its main content is fetched,
    /// which marks it read in e-Box, unless facts are kept already: those stay and are
    /// returned. A run that dies between that download and its `message.json` leaves them
    /// to the next attempt. Kept until `keep_until`.
    async fn note_retrieval(
        &self,
        entity: &EntityId,
        message: &MessageRef<'_>,
        retrieval: Retrieval,
        keep_until: DateTime<Utc>,
    ) -> Result<Retrieval, StoreError>;
    /// The facts kept of a message's retrieval, if any.
    async fn noted_retrieval(
        &self,
        entity: &EntityId,
        message: &MessageRef<'_>,
    ) -> Result<Option<Retrieval>, StoreError>;
}

/// One message of one provider.
#[derive(Debug, Clone, Copy)]
pub struct MessageRef<'a> {
    pub provider_id: &'a str,
    pub message_id: &'a str,
}

/// Reads of single state items, for operators and tests; the engine reads its state in
/// one snapshot.
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
    /// The stored last runs of many entities at once, for fanout's count of the fleet;
    /// entities without one are left out.
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
