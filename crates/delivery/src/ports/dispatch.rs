//! Dispatching fetch runs.

use async_trait::async_trait;

use crate::EntityId;

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
