//! The engine's view of the world: one narrow trait per capability.
//!
//! Each trait has an AWS implementation in [`crate::aws`] and an in-memory twin in
//! [`crate::memory`]; `tests/adapters.rs` runs one conformance suite against both.

use std::collections::BTreeMap;
use std::fmt;
use std::io;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::EntityId;

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure of a storage call. It names the operation and what it was about, and says
/// whether trying again later can help (throttling, timeouts, 5xx) or not.
#[derive(Debug, thiserror::Error)]
#[error("{operation} {target}: {message}")]
pub struct StoreError {
    pub operation: &'static str,
    pub target: String,
    pub message: String,
    pub retryable: bool,
    #[source]
    pub source: Option<BoxError>,
}

impl StoreError {
    pub fn new(operation: &'static str, target: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            operation,
            target: target.into(),
            message: message.into(),
            retryable: false,
            source: None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Connections

/// Where a connection's ClientID and key material are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CredentialsRef {
    /// The connection's own secret: JSON with `client_id` and either the key material
    /// or `certificate_secret_id`, a reference to a shared certificate secret.
    Secret { secret_id: String },
    /// No secret of its own: the ClientID is kept in the record, the key material in a
    /// certificate secret shared by many connections (one secret to renew, one to pay for).
    SharedCertificate {
        client_id: String,
        certificate_secret_id: String,
    },
}

/// One entity's e-Box connection, as the "connecties" tab shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub entity_id: EntityId,
    pub name: String,
    pub enabled: bool,
    pub credentials: CredentialsRef,
    /// Every key of this entity starts with it; defaults to `verdeelbak/<entity_id>/`.
    pub verdeelbak_prefix: String,
    /// The scopes its token requests name, when not the configured ones (`EBOX_SCOPES`,
    /// by default none, which gets every scope the client was granted).
    pub scopes: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Connection {
    /// A new, enabled connection delivering under the default prefix.
    pub fn new(entity_id: EntityId, name: impl Into<String>, credentials: CredentialsRef, now: DateTime<Utc>) -> Self {
        Self {
            verdeelbak_prefix: Self::default_prefix(&entity_id),
            entity_id,
            name: name.into(),
            enabled: true,
            credentials,
            scopes: None,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn default_prefix(entity: &EntityId) -> String {
        format!("verdeelbak/{entity}/")
    }
}

/// One page of a listing, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    Inserted,
    AlreadyExists,
}

/// What fetch and fanout read of the connections.
#[async_trait]
pub trait ConnectionReader: Send + Sync {
    async fn get(&self, entity: &EntityId) -> Result<Option<Connection>, StoreError>;
    /// A page of at most `limit` connections, in no promised order, starting after `from`.
    async fn page(&self, from: Option<String>, limit: usize) -> Result<Page<Connection>, StoreError>;
}

/// What the operator CLI administers.
#[async_trait]
pub trait ConnectionAdmin: ConnectionReader {
    /// Writes only when no connection exists for the entity yet.
    async fn insert(&self, connection: &Connection) -> Result<Insert, StoreError>;
    async fn put(&self, connection: &Connection) -> Result<(), StoreError>;
    /// Returns false when there is no such connection.
    async fn set_enabled(&self, entity: &EntityId, enabled: bool, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Returns false when there was no such connection.
    async fn remove(&self, entity: &EntityId) -> Result<bool, StoreError>;
}

// ---------------------------------------------------------------------------------------
// State: leases, cursors, ledger, last run

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    Acquired,
    /// Another run holds the entity until `until`.
    HeldBy {
        holder: String,
        until: DateTime<Utc>,
    },
}

#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the entity's lease for `holder` until `until`, unless another holder has it
    /// and it has not expired at `now`. The expiry check is part of the conditional write.
    async fn acquire(
        &self,
        entity: &EntityId,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<LeaseOutcome, StoreError>;
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
}

/// How far back a walk of one provider has to look. The ledger, not the cursor, says
/// what was delivered; the cursor only bounds the walk.
#[async_trait]
pub trait CursorStore: Send + Sync {
    /// Stores `cursor` unless the stored position is later: a cursor never moves back.
    async fn advance(&self, entity: &EntityId, provider_id: &str, cursor: &Cursor)
    -> Result<CursorOutcome, StoreError>;
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
    pub last_run: Option<serde_json::Value>,
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
}

#[async_trait]
pub trait Ledger: Send + Sync {
    /// Records a delivery once; a second record of the same message is `AlreadyExists`.
    async fn record(&self, entity: &EntityId, entry: &LedgerEntry) -> Result<Insert, StoreError>;
    /// Which of these messages of one provider are delivered (one round trip per 100).
    async fn delivered_among(
        &self,
        entity: &EntityId,
        provider_id: &str,
        message_ids: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError>;
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
    async fn put_last(&self, entity: &EntityId, report: &serde_json::Value) -> Result<(), StoreError>;
    async fn get_last(&self, entity: &EntityId) -> Result<Option<serde_json::Value>, StoreError>;
}

// ---------------------------------------------------------------------------------------
// Secrets

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {id:?} does not exist")]
    NotFound { id: String },
    #[error("secret {id:?} could not be read: access denied")]
    AccessDenied { id: String },
    #[error("secret {id:?} has no string value")]
    NotAString { id: String },
    #[error("secret {id:?} could not be read: {message}")]
    Unavailable {
        id: String,
        message: String,
        retryable: bool,
    },
}

impl SecretError {
    pub fn retryable(&self) -> bool {
        matches!(self, SecretError::Unavailable { retryable: true, .. })
    }
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn get(&self, secret_id: &str) -> Result<SecretString, SecretError>;
}

// ---------------------------------------------------------------------------------------
// Objects (the verdeelbak)

pub type Sha256 = [u8; 32];

pub enum ObjectBody {
    Bytes(Bytes),
    /// A body that is never held whole: `length` bytes arriving in chunks.
    Stream {
        length: u64,
        chunks: BoxStream<'static, Result<Bytes, io::Error>>,
    },
}

impl fmt::Debug for ObjectBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectBody::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            ObjectBody::Stream { length, .. } => write!(f, "Stream({length} bytes)"),
        }
    }
}

#[derive(Debug)]
pub struct PutObject {
    pub key: String,
    pub body: ObjectBody,
    /// SHA-256 of the body. The store refuses a body whose bytes do not match.
    pub sha256: Sha256,
    pub content_type: String,
    /// Write only when nothing exists under the key yet.
    pub if_absent: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    pub sha256: Option<Sha256>,
}

#[async_trait]
pub trait ObjectStore: Send + Sync {
    async fn put(&self, object: PutObject) -> Result<Insert, StoreError>;
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError>;
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError>;
    /// Every object under `prefix`, in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError>;
}

pub fn sha256_of(bytes: &[u8]) -> Sha256 {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Lower-case hex, as digests are written everywhere in this project.
pub use hex::encode as hex;

/// What went wrong with a body on its way to a store.
pub type BodyFault = std::sync::Arc<std::sync::OnceLock<String>>;

/// Checks a body against its announced length and SHA-256 while it flows, holding back
/// the last chunk until both are confirmed: a receiver that has not seen the whole body
/// cannot complete the object, so a mismatch never becomes a stored object, whatever the
/// store does with checksums. Memory: the one chunk held back.
pub fn verified_body(
    chunks: BoxStream<'static, Result<Bytes, io::Error>>,
    length: u64,
    expected: Sha256,
) -> (BoxStream<'static, Result<Bytes, io::Error>>, BodyFault) {
    use futures::StreamExt;
    use sha2::Digest;

    struct State {
        chunks: BoxStream<'static, Result<Bytes, io::Error>>,
        held: Option<Bytes>,
        hasher: sha2::Sha256,
        seen: u64,
        finished: bool,
        fault: BodyFault,
    }
    fn fail(st: State, message: String) -> Option<(Result<Bytes, io::Error>, State)> {
        let _ = st.fault.set(message.clone());
        let mut st = st;
        st.finished = true;
        Some((Err(io::Error::new(io::ErrorKind::InvalidData, message)), st))
    }

    let fault = BodyFault::default();
    let state = State {
        chunks,
        held: None,
        hasher: sha2::Sha256::new(),
        seen: 0,
        finished: false,
        fault: fault.clone(),
    };
    let stream = futures::stream::unfold(state, move |mut st| async move {
        if st.finished {
            return None;
        }
        loop {
            match st.chunks.next().await {
                Some(Ok(chunk)) => {
                    st.seen += chunk.len() as u64;
                    st.hasher.update(&chunk);
                    if st.seen > length {
                        return fail(st, format!("body is longer than the {length} bytes announced"));
                    }
                    if let Some(previous) = st.held.replace(chunk) {
                        return Some((Ok(previous), st));
                    }
                }
                Some(Err(e)) => return fail(st, format!("body could not be read: {e}")),
                None => {
                    if st.seen != length {
                        let message = format!("body has {} bytes, {length} announced", st.seen);
                        return fail(st, message);
                    }
                    let actual: Sha256 = std::mem::take(&mut st.hasher).finalize().into();
                    if actual != expected {
                        return fail(st, "content does not match its SHA-256 checksum".to_owned());
                    }
                    st.finished = true;
                    return st.held.take().map(|last| (Ok(last), st));
                }
            }
        }
    });
    (stream.boxed(), fault)
}

// ---------------------------------------------------------------------------------------
// Dispatching fetch runs

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DispatchError {
    pub message: String,
    /// Throttling and other transient faults: worth another try.
    pub retryable: bool,
}

/// Starts one fetch run for an entity, without waiting for it.
#[async_trait]
pub trait Dispatcher: Send + Sync {
    async fn dispatch(&self, entity: &EntityId) -> Result<(), DispatchError>;
}
