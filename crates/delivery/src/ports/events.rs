//! Events: the bus downstream systems subscribe to.

use async_trait::async_trait;

use super::StoreError;
use crate::verdeelbak::event::DeliveredEvent;

/// The most events one publish call carries (EventBridge's `PutEvents` limit).
pub const PUBLISH_BATCH: usize = 10;

#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes up to [`PUBLISH_BATCH`] events in one call. The call may succeed while
    /// some entries fail (EventBridge's `FailedEntryCount`): the answer lists those, by
    /// their index in `events`, with the reason.
    async fn publish(&self, events: &[DeliveredEvent]) -> Result<Vec<(usize, String)>, StoreError>;
}
