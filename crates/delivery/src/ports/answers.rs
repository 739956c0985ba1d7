//! What a request under an `Idempotency-Key` was answered, kept for a while so that the
//! same request again gets the same answer, and nothing is done twice.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;

/// One answer: to which request (its digest), with which status and body. The body is
/// what was sent back, which never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub request: String,
    pub status: u16,
    pub body: String,
}

#[async_trait]
pub trait Answers: Send + Sync {
    /// The answer kept under the key (its SHA-256, as the caller gives it).
    async fn recall(&self, key: &str) -> Result<Option<Answer>, StoreError>;
    /// Keeps the answer until `until`, unless one is kept already: false then.
    async fn remember(&self, key: &str, answer: &Answer, until: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Keeps the answer until `until`, over whatever is kept (the holder of a claim settles it).
    async fn settle(&self, key: &str, answer: &Answer, until: DateTime<Utc>) -> Result<(), StoreError>;
}
