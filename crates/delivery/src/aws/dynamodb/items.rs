//! The stored items, one private serde struct per kind.
//!
//! Names and types are those the adapter has always written, so every stored item still
//! reads and older readers read the new ones: times shown to people are ISO strings,
//! times that conditions compare are numbers of milliseconds, the TTL is epoch seconds.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::codec::*;
use crate::EntityId;
use crate::ports::{Connection, CredentialsRef, Cursor, Lease, LedgerEntry, MessageRef, Retrieval};
use crate::schema::{LAST_RUN_SORT_KEY, LEASE_SORT_KEY, entity_partition, ledger_sort_key, retrieval_sort_key};

/// How long DynamoDB keeps a row after the thing it describes is over.
const LEASE_RETENTION: Duration = Duration::days(1);
const LEDGER_RETENTION: Duration = Duration::days(30);

/// The key of a connection (`CONNECTIONS_PARTITION_KEY`).
#[derive(Serialize, Deserialize)]
pub(super) struct ConnectionKey {
    pub entity_id: String,
}

impl ConnectionKey {
    pub fn item(entity_id: &str) -> Item {
        let entity_id = entity_id.to_owned();
        to_item(Self { entity_id })
    }
}

/// The key of a state row (`STATE_PARTITION_KEY`, `STATE_SORT_KEY`).
#[derive(Serialize, Deserialize)]
pub(super) struct StateKey {
    pk: String,
    pub sk: String,
}

impl StateKey {
    pub fn new(entity: &EntityId, sort_key: impl Into<String>) -> Self {
        Self {
            pk: entity_partition(entity),
            sk: sort_key.into(),
        }
    }

    pub fn item(entity: &EntityId, sort_key: impl Into<String>) -> Item {
        to_item(Self::new(entity, sort_key))
    }

    /// The key of an answer kept under an idempotency key's digest.
    pub fn answer(key_digest: &str) -> Self {
        Self {
            pk: crate::schema::answer_partition(key_digest),
            sk: crate::schema::ANSWER_SORT_KEY.into(),
        }
    }
}

/// An answer kept under an idempotency key, until its TTL.
#[derive(Serialize, Deserialize)]
pub(super) struct AnswerItem {
    pub request: String,
    pub status: u16,
    pub body: String,
}

impl AnswerItem {
    pub fn row(key_digest: &str, answer: &crate::ports::Answer, until: DateTime<Utc>) -> Item {
        let row = Self {
            request: answer.request.clone(),
            status: answer.status,
            body: answer.body.clone(),
        };
        state_row(StateKey::answer(key_digest), row, Some(until))
    }
}

/// A state row as written: key, attributes, and when DynamoDB may delete it (epoch seconds).
#[derive(Serialize)]
struct StateRow<T> {
    #[serde(flatten)]
    key: StateKey,
    #[serde(flatten)]
    row: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<i64>,
}

fn state_row(key: StateKey, row: impl Serialize, ttl: Option<DateTime<Utc>>) -> Item {
    let ttl = ttl.map(|t| t.timestamp());
    to_item(StateRow { key, row, ttl })
}

/// A connection, under its entity id.
#[derive(Serialize, Deserialize)]
pub(super) struct ConnectionItem {
    entity_id: String,
    name: String,
    enabled: bool,
    verdeelbak_prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "strings")]
    scopes: Option<Vec<String>>,
    created_at: Iso,
    updated_at: Iso,
    /// The [`CredentialsRef`], in the attributes of its kind; the others are not read.
    credentials_kind: CredentialsKind,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    secret_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    certificate_secret_id: Option<String>,
    /// Unreadable health (a later schema) reads as none: the next change writes it again.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    health: Option<crate::health::Health>,
    /// Unreadable onboarding reads as none too: the connection then counts as connected,
    /// as every connection made before onboardings were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    onboarding: Option<crate::onboarding::Onboarding>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum CredentialsKind {
    Secret,
    SharedCertificate,
    AwaitingClientId,
}

impl ConnectionItem {
    pub fn row(c: &Connection) -> Item {
        let (credentials_kind, secret_id, client_id, certificate_secret_id) = match c.credentials.clone() {
            CredentialsRef::Secret { secret_id } => (CredentialsKind::Secret, Some(secret_id), None, None),
            CredentialsRef::SharedCertificate {
                client_id,
                certificate_secret_id,
            } => (
                CredentialsKind::SharedCertificate,
                None,
                Some(client_id),
                Some(certificate_secret_id),
            ),
            CredentialsRef::AwaitingClientId => (CredentialsKind::AwaitingClientId, None, None, None),
        };
        to_item(Self {
            entity_id: c.entity_id.as_str().to_owned(),
            name: c.name.clone(),
            enabled: c.enabled,
            verdeelbak_prefix: c.verdeelbak_prefix.clone(),
            scopes: c.scopes.clone(),
            created_at: Iso(c.created_at),
            updated_at: Iso(c.updated_at),
            credentials_kind,
            secret_id,
            client_id,
            certificate_secret_id,
            health: c.health.clone(),
            onboarding: c.onboarding.clone(),
        })
    }

    pub fn into_connection(self, entity_id: EntityId) -> Result<Connection, String> {
        let field = |value: Option<String>, name: &str| value.ok_or_else(|| malformed(name));
        let credentials = match self.credentials_kind {
            CredentialsKind::Secret => CredentialsRef::Secret {
                secret_id: field(self.secret_id, "secret_id")?,
            },
            CredentialsKind::SharedCertificate => CredentialsRef::SharedCertificate {
                client_id: field(self.client_id, "client_id")?,
                certificate_secret_id: field(self.certificate_secret_id, "certificate_secret_id")?,
            },
            CredentialsKind::AwaitingClientId => CredentialsRef::AwaitingClientId,
        };
        Ok(Connection {
            entity_id,
            name: self.name,
            enabled: self.enabled,
            credentials,
            verdeelbak_prefix: self.verdeelbak_prefix,
            scopes: self.scopes,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
            health: self.health,
            onboarding: self.onboarding,
        })
    }
}

/// The lease (`LEASE_SORT_KEY`). Its condition compares `lease_until_ms`.
#[derive(Serialize, Deserialize)]
pub(super) struct LeaseItem {
    holder: String,
    lease_until_ms: Millis,
    #[serde(skip_deserializing)]
    lease_until: Iso,
}

impl LeaseItem {
    pub fn row(entity: &EntityId, holder: &str, until: DateTime<Utc>) -> Item {
        let lease = Self {
            holder: holder.to_owned(),
            lease_until_ms: Millis(until),
            lease_until: Iso(until),
        };
        let key = StateKey::new(entity, LEASE_SORT_KEY);
        state_row(key, lease, Some(until + LEASE_RETENTION))
    }
}

impl From<LeaseItem> for Lease {
    fn from(item: LeaseItem) -> Self {
        Self {
            holder: item.holder,
            until: item.lease_until_ms.0,
        }
    }
}

/// The lease in the way of a take: whatever of it reads, each part on its own.
#[derive(Deserialize)]
pub(super) struct LeaseHolder {
    #[serde(default, deserialize_with = "lenient")]
    pub holder: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub lease_until_ms: Option<Millis>,
}

/// A cursor (`cursor_sort_key`), written by an update whose condition compares `position_ms`.
#[derive(Serialize, Deserialize)]
pub(super) struct CursorItem {
    position_ms: Millis,
    #[serde(skip_deserializing)]
    position: Iso,
    #[serde(skip_deserializing)]
    provider_id: String,
    #[serde(default, with = "instants")]
    recent: BTreeMap<String, DateTime<Utc>>,
    #[serde(default, with = "instants")]
    unreadable: BTreeMap<String, DateTime<Utc>>,
    #[serde(default)]
    registry_url: String,
    #[serde(default)]
    also_known_as: Vec<String>,
}

impl CursorItem {
    /// Its attributes, to be set by an update.
    pub fn attributes(provider_id: &str, cursor: &Cursor) -> Item {
        to_item(Self {
            position_ms: Millis(cursor.position),
            position: Iso(cursor.position),
            provider_id: provider_id.to_owned(),
            recent: cursor.recent.clone(),
            unreadable: cursor.unreadable.clone(),
            registry_url: cursor.registry_url.clone(),
            also_known_as: cursor.also_known_as.iter().cloned().collect(),
        })
    }
}

impl From<CursorItem> for Cursor {
    fn from(item: CursorItem) -> Self {
        Self {
            position: item.position_ms.0,
            recent: item.recent,
            unreadable: item.unreadable,
            registry_url: item.registry_url,
            also_known_as: item.also_known_as.into_iter().collect(),
        }
    }
}

/// A ledger row (`ledger_sort_key`).
#[derive(Serialize, Deserialize)]
pub(super) struct LedgerItem {
    provider_id: String,
    message_id: String,
    delivered_at: Iso,
    message_key: String,
    message_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    expires_at: Option<Iso>,
    /// Present (true) while the row's event is pending; removed once it is published.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub event_pending: bool,
}

impl LedgerItem {
    pub fn row(entity: &EntityId, e: &LedgerEntry) -> Item {
        let row = Self {
            provider_id: e.provider_id.clone(),
            message_id: e.message_id.clone(),
            delivered_at: Iso(e.delivered_at),
            message_key: e.message_key.clone(),
            message_sha256: e.message_sha256.clone(),
            expires_at: e.expires_at.map(Iso),
            event_pending: e.event_pending,
        };
        let key = StateKey::new(entity, ledger_sort_key(&e.provider_id, &e.message_id));
        state_row(key, row, e.expires_at.map(|t| t + LEDGER_RETENTION))
    }
}

impl From<LedgerItem> for LedgerEntry {
    fn from(item: LedgerItem) -> Self {
        Self {
            provider_id: item.provider_id,
            message_id: item.message_id,
            delivered_at: item.delivered_at.0,
            message_key: item.message_key,
            message_sha256: item.message_sha256,
            expires_at: item.expires_at.map(|t| t.0),
            event_pending: item.event_pending,
        }
    }
}

/// A message's retrieval facts (`retrieval_sort_key`), kept before its content is fetched.
#[derive(Serialize, Deserialize)]
pub(super) struct RetrievalItem {
    pub retrieved_at: Iso,
    pub read_before_retrieval: bool,
}

impl RetrievalItem {
    pub fn row(entity: &EntityId, message: &MessageRef<'_>, r: Retrieval, keep_until: DateTime<Utc>) -> Item {
        let row = Self {
            retrieved_at: Iso(r.at),
            read_before_retrieval: r.read_before,
        };
        let key = StateKey::new(entity, retrieval_sort_key(message.provider_id, message.message_id));
        state_row(key, row, Some(keep_until))
    }
}

impl From<RetrievalItem> for Retrieval {
    fn from(item: RetrievalItem) -> Self {
        Self {
            at: item.retrieved_at.0,
            read_before: item.read_before_retrieval,
        }
    }
}

/// The id alone, as `delivered_among` projects it.
#[derive(Deserialize)]
pub(super) struct LedgerId {
    pub message_id: String,
}

/// The last run (`LAST_RUN_SORT_KEY`): its report as a JSON string.
#[derive(Serialize, Deserialize)]
pub(super) struct LastRunItem {
    pub report: String,
}

impl LastRunItem {
    pub fn row(entity: &EntityId, report: &str) -> Item {
        let report = report.to_owned();
        state_row(StateKey::new(entity, LAST_RUN_SORT_KEY), Self { report }, None)
    }
}
