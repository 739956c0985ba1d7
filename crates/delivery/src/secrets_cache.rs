//! Secrets cached per warm process: a schedule tick every few minutes must not cost a
//! Secrets Manager call per entity, yet a renewed certificate must be picked up.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::ports::{SecretError, SecretStore};

/// A secret as read, and when: on this process's clock for the TTL, and on the wall clock
/// to compare with a connection's change.
type Kept = (Instant, DateTime<Utc>, SecretString);

pub struct CachedSecrets<S> {
    inner: S,
    ttl: Duration,
    entries: Mutex<HashMap<String, Kept>>,
}

impl<S> CachedSecrets<S> {
    pub fn new(inner: S, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl<S: SecretStore> SecretStore for CachedSecrets<S> {
    async fn get(&self, secret_id: &str) -> Result<SecretString, SecretError> {
        self.get_as_of(secret_id, DateTime::<Utc>::MIN_UTC).await
    }

    async fn get_as_of(&self, secret_id: &str, as_of: DateTime<Utc>) -> Result<SecretString, SecretError> {
        if let Some((read_at, read_on, value)) = self.entries.lock().await.get(secret_id)
            && read_at.elapsed() < self.ttl
            && *read_on >= as_of
        {
            return Ok(value.clone());
        }
        let read_on = Utc::now();
        let value = self.inner.get(secret_id).await?;
        self.entries
            .lock()
            .await
            .insert(secret_id.to_owned(), (Instant::now(), read_on, value.clone()));
        Ok(value)
    }

    /// After e-Box refused the key it held: the next read sees a renewal at once.
    async fn forget(&self, secret_id: &str) {
        self.entries.lock().await.remove(secret_id);
    }
}
