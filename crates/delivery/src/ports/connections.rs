//! Connections: one entity's e-Box connection each.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::EntityId;
use crate::health::Health;
use crate::onboarding::{Onboarding, Step};

use super::StoreError;

/// Where a connection's ClientID and key material are kept.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CredentialsRef {
    /// The connection's own secret: JSON with `client_id` and either the key material or
    /// `certificate_secret_id`, naming a shared certificate secret.
    Secret { secret_id: String },
    /// The ClientID kept in the record, the key material in a certificate secret many
    /// connections share (one secret to renew, one to pay for).
    SharedCertificate {
        client_id: String,
        certificate_secret_id: String,
    },
    /// None yet: the connection is onboarding, and its ClientID has not come.
    AwaitingClientId,
}

/// One entity's e-Box connection, as the "connecties" tab shows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "0403170701"))]
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
    /// What its runs show, as last changed (see [`crate::health`]); none before a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// Its onboarding, step by step; none for a connection made before onboardings were
    /// recorded (connected by then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onboarding: Option<Onboarding>,
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
            health: None,
            onboarding: None,
        }
    }

    /// Whether fetch delivers its mail: it has its ClientID and, when it was onboarded here,
    /// a test got through. Fetch and fanout leave any other connection alone.
    pub fn is_connected(&self) -> bool {
        self.credentials != CredentialsRef::AwaitingClientId
            && self.onboarding.as_ref().is_none_or(Onboarding::connected)
    }

    /// The step its onboarding is stuck on (longer than `after`), and for how long; none
    /// once it is connected.
    pub fn stuck_onboarding(&self, after: chrono::Duration, now: DateTime<Utc>) -> Option<(Step, chrono::Duration)> {
        (self.onboarding.as_ref())
            .filter(|_| !self.is_connected())
            .and_then(|o| o.stuck(after, now))
    }

    /// Its onboarding step; a connection without an onboarding record is connected.
    pub fn onboarding_step(&self) -> Step {
        match &self.onboarding {
            None => Step::Connected,
            Some(o) => o.step().unwrap_or(Step::Requested),
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

/// What fetch and fanout read of the connections, and the health fetch records.
#[async_trait]
pub trait ConnectionReader: Send + Sync {
    async fn get(&self, entity: &EntityId) -> Result<Option<Connection>, StoreError>;
    /// A page of at most `limit` connections, in no promised order, starting after `from`.
    async fn page(&self, from: Option<String>, limit: usize) -> Result<Page<Connection>, StoreError>;
    /// Records the connection's health only; false when there is no such connection
    /// (removed meanwhile: nothing is written).
    async fn set_health(&self, entity: &EntityId, health: &Health) -> Result<bool, StoreError>;
    /// Records the onboarding's first delivered message, once: false when there is no such
    /// connection, no onboarding record, or the date is already there.
    async fn first_message_delivered(&self, entity: &EntityId, at: DateTime<Utc>) -> Result<bool, StoreError>;
}

/// Every connection, page by page, in entity order (for the views over the whole fleet).
pub async fn all_connections(reader: &dyn ConnectionReader) -> Result<Vec<Connection>, StoreError> {
    let mut all = Vec::new();
    let mut from = None;
    loop {
        let page = reader.page(from, 500).await?;
        all.extend(page.items);
        match page.next {
            Some(next) => from = Some(next),
            None => break,
        }
    }
    all.sort_by(|a, b| a.entity_id.cmp(&b.entity_id));
    Ok(all)
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
    /// Records its onboarding as it now stands, if the connection is still as it was read
    /// (`updated_at` is `seen`); false when it changed or is gone (nothing is written).
    async fn set_onboarding(
        &self,
        entity: &EntityId,
        onboarding: &Onboarding,
        seen: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Writes the connection over the one read (`updated_at` is `seen`); false when that
    /// one changed or is gone (nothing is written).
    async fn replace(&self, connection: &Connection, seen: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Marks the connection changed at `now` (key material staged or promoted), so fetch
    /// reads its secrets again; false when there is no such connection.
    async fn touch(&self, entity: &EntityId, now: DateTime<Utc>) -> Result<bool, StoreError>;
}
