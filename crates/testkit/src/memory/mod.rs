//! In-memory twins of every port, for fast engine tests. They follow the same rules as
//! the AWS adapters (conditional writes, lease expiry, cursor monotonicity, checksums),
//! and the conformance suite in `tests/adapters.rs` holds them to it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use secrecy::SecretString;

use delivery::EntityId;
use delivery::ports::*;

mod events;
mod state;
pub use events::MemoryBus;
pub use state::MemoryState;

#[derive(Default)]
pub struct MemoryConnections {
    items: Mutex<BTreeMap<EntityId, Connection>>,
}

#[async_trait]
impl ConnectionReader for MemoryConnections {
    async fn get(&self, entity: &EntityId) -> Result<Option<Connection>, StoreError> {
        Ok(self.items.lock().unwrap().get(entity).cloned())
    }

    async fn page(&self, from: Option<String>, limit: usize) -> Result<Page<Connection>, StoreError> {
        let items = self.items.lock().unwrap();
        let after = |c: &&Connection| from.as_deref().is_none_or(|f| c.entity_id.as_str() > f);
        let page: Vec<Connection> = items.values().filter(after).take(limit).cloned().collect();
        let next = (page.len() == limit && items.values().filter(after).nth(limit).is_some())
            .then(|| page.last().map(|c| c.entity_id.to_string()))
            .flatten();
        Ok(Page { items: page, next })
    }

    async fn set_health(&self, entity: &EntityId, health: &delivery::health::Health) -> Result<bool, StoreError> {
        Ok(match self.items.lock().unwrap().get_mut(entity) {
            Some(c) => {
                c.health = Some(health.clone());
                true
            }
            None => false,
        })
    }

    async fn first_message_delivered(&self, entity: &EntityId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut items = self.items.lock().unwrap();
        let onboarding = items.get_mut(entity).and_then(|c| c.onboarding.as_mut());
        Ok(match onboarding {
            Some(o) if o.first_message_delivered_at.is_none() => {
                o.first_message_delivered_at = Some(at);
                true
            }
            _ => false,
        })
    }
}

#[async_trait]
impl ConnectionAdmin for MemoryConnections {
    async fn insert(&self, connection: &Connection) -> Result<Insert, StoreError> {
        let mut items = self.items.lock().unwrap();
        if items.contains_key(&connection.entity_id) {
            return Ok(Insert::AlreadyExists);
        }
        items.insert(connection.entity_id.clone(), connection.clone());
        Ok(Insert::Inserted)
    }

    async fn put(&self, connection: &Connection) -> Result<(), StoreError> {
        self.items
            .lock()
            .unwrap()
            .insert(connection.entity_id.clone(), connection.clone());
        Ok(())
    }

    async fn set_enabled(&self, entity: &EntityId, enabled: bool, now: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(match self.items.lock().unwrap().get_mut(entity) {
            Some(c) => {
                c.enabled = enabled;
                c.updated_at = now;
                true
            }
            None => false,
        })
    }

    async fn remove(&self, entity: &EntityId) -> Result<bool, StoreError> {
        Ok(self.items.lock().unwrap().remove(entity).is_some())
    }

    async fn set_onboarding(
        &self,
        entity: &EntityId,
        onboarding: &delivery::onboarding::Onboarding,
        seen: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(match self.items.lock().unwrap().get_mut(entity) {
            Some(c) if same_millis(c.updated_at, seen) => {
                c.onboarding = Some(onboarding.clone());
                c.updated_at = now;
                true
            }
            _ => false,
        })
    }

    async fn replace(&self, connection: &Connection, seen: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut items = self.items.lock().unwrap();
        match items.get(&connection.entity_id) {
            Some(c) if same_millis(c.updated_at, seen) => {
                items.insert(connection.entity_id.clone(), connection.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn touch(&self, entity: &EntityId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(match self.items.lock().unwrap().get_mut(entity) {
            Some(c) => {
                c.updated_at = now;
                true
            }
            None => false,
        })
    }
}

/// Times compared as the table compares them: to the millisecond it keeps.
fn same_millis(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    a.timestamp_millis() == b.timestamp_millis()
}

/// Secrets held in memory; counts reads so tests can see what a cache saved.
#[derive(Default)]
pub struct MemorySecrets {
    values: Mutex<HashMap<String, String>>,
    reads: AtomicUsize,
}

impl MemorySecrets {
    pub fn set(&self, id: &str, value: &str) {
        self.values.lock().unwrap().insert(id.to_owned(), value.to_owned());
    }

    pub fn names(&self) -> Vec<String> {
        self.values.lock().unwrap().keys().cloned().collect()
    }

    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl SecretStore for MemorySecrets {
    async fn get(&self, secret_id: &str) -> Result<SecretString, SecretError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        match self.values.lock().unwrap().get(secret_id) {
            Some(v) => Ok(SecretString::from(v.clone())),
            None => Err(SecretError::NotFound {
                id: secret_id.to_owned(),
            }),
        }
    }
}

#[async_trait]
impl SecretAdmin for MemorySecrets {
    async fn put(&self, secret_id: &str, value: &str) -> Result<(), StoreError> {
        self.set(secret_id, value);
        Ok(())
    }

    async fn delete(&self, secret_id: &str) -> Result<(), StoreError> {
        self.values.lock().unwrap().remove(secret_id);
        Ok(())
    }
}

#[derive(Default)]
pub struct MemoryObjects {
    objects: Mutex<BTreeMap<String, Bytes>>,
    metadata: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
}

#[async_trait]
impl ObjectStore for MemoryObjects {
    async fn put(&self, object: PutObject) -> Result<Insert, StoreError> {
        if object.if_absent && self.objects.lock().unwrap().contains_key(&object.key) {
            return Ok(Insert::AlreadyExists);
        }
        let bytes = match object.body {
            ObjectBody::Bytes(b) => b,
            ObjectBody::Stream { length, chunks, .. } => {
                let (mut chunks, _) = verified_body(chunks, length, object.sha256);
                let mut buf = BytesMut::new();
                while let Some(chunk) = chunks.next().await {
                    let chunk = chunk.map_err(|e| StoreError::new("put object", &object.key, e.to_string()))?;
                    buf.extend_from_slice(&chunk);
                }
                buf.freeze()
            }
        };
        if sha256_of(&bytes) != object.sha256 {
            return Err(StoreError::new(
                "put object",
                &object.key,
                "content does not match its SHA-256 checksum",
            ));
        }
        let mut objects = self.objects.lock().unwrap();
        if object.if_absent && objects.contains_key(&object.key) {
            return Ok(Insert::AlreadyExists);
        }
        self.metadata
            .lock()
            .unwrap()
            .insert(object.key.clone(), object.metadata.into_iter().collect());
        objects.insert(object.key, bytes);
        Ok(Insert::Inserted)
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let metadata = self.metadata.lock().unwrap().get(key).cloned().unwrap_or_default();
        Ok(self.objects.lock().unwrap().get(key).map(|b| ObjectMeta {
            metadata,
            ..meta(key, b, true)
        }))
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        Ok(self.objects.lock().unwrap().get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        Ok(self
            .objects
            .lock()
            .unwrap()
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            // Like S3's listing, which carries no checksum values.
            .map(|(k, b)| meta(k, b, false))
            .collect())
    }
}

fn meta(key: &str, bytes: &Bytes, with_sha: bool) -> ObjectMeta {
    ObjectMeta {
        key: key.to_owned(),
        size: bytes.len() as u64,
        sha256: with_sha.then(|| sha256_of(bytes)),
        metadata: BTreeMap::new(),
    }
}

/// Records dispatched entities; can be told to refuse some.
#[derive(Default)]
pub struct MemoryDispatcher {
    pub dispatched: Mutex<Vec<EntityId>>,
    pub refuse: Mutex<std::collections::HashSet<EntityId>>,
}

#[async_trait]
impl Dispatcher for MemoryDispatcher {
    async fn dispatch(&self, entity: &EntityId) -> Result<(), DispatchError> {
        if self.refuse.lock().unwrap().contains(entity) {
            return Err(DispatchError {
                message: "refused".into(),
                retryable: false,
            });
        }
        self.dispatched.lock().unwrap().push(entity.clone());
        Ok(())
    }
}

/// The state table's ports, all served by one in-memory twin.
pub fn memory_stores() -> delivery::stores::Stores {
    delivery::stores::Stores::of(std::sync::Arc::new(MemoryState::default()))
}
