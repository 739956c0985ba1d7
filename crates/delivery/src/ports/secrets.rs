//! Secrets: the key material of the connections.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

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
    /// The secret as it was at `as_of` or later: where reads are kept, one kept from
    /// before is read again (a connection changed at `as_of`: key material staged).
    async fn get_as_of(&self, secret_id: &str, _as_of: DateTime<Utc>) -> Result<SecretString, SecretError> {
        self.get(secret_id).await
    }
    /// Forgets what was read of a secret, where reads are kept: the next read goes to the
    /// store. Called when e-Box refused the key a secret held, so a renewal is seen at once.
    async fn forget(&self, _secret_id: &str) {}
}

#[async_trait]
impl<T: SecretStore + ?Sized> SecretStore for std::sync::Arc<T> {
    async fn get(&self, secret_id: &str) -> Result<SecretString, SecretError> {
        (**self).get(secret_id).await
    }

    async fn get_as_of(&self, secret_id: &str, as_of: DateTime<Utc>) -> Result<SecretString, SecretError> {
        (**self).get_as_of(secret_id, as_of).await
    }

    async fn forget(&self, secret_id: &str) {
        (**self).forget(secret_id).await
    }
}

/// What administering connections writes: a secret made or given a new version, and one
/// scheduled for deletion (recoverable for a while, where the store allows it).
#[async_trait]
pub trait SecretAdmin: SecretStore {
    /// Creates the secret, or stores a new version when it exists.
    async fn put(&self, secret_id: &str, value: &str) -> Result<(), super::StoreError>;
    /// Schedules the secret's deletion; one that does not exist is no error.
    async fn delete(&self, secret_id: &str) -> Result<(), super::StoreError>;
}
