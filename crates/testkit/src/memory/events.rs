//! The event bus's twin: keeps what was published, and fails on demand (every call, or
//! some entries of a call), as EventBridge can.

use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;

use delivery::ports::*;
use delivery::verdeelbak::event::DeliveredEvent;

#[derive(Default)]
pub struct MemoryBus {
    published: Mutex<Vec<DeliveredEvent>>,
    down: Mutex<bool>,
    /// Event ids whose entries fail while the call succeeds.
    refused: Mutex<HashSet<String>>,
}

impl MemoryBus {
    /// Every event published, in order (repeats included).
    pub fn published(&self) -> Vec<DeliveredEvent> {
        self.published.lock().unwrap().clone()
    }

    /// While down, every publish call fails as a whole.
    pub fn set_down(&self, down: bool) {
        *self.down.lock().unwrap() = down;
    }

    /// The entries of these events fail (the call itself succeeds) until cleared.
    pub fn refuse(&self, ids: impl IntoIterator<Item = String>) {
        *self.refused.lock().unwrap() = ids.into_iter().collect();
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, events: &[DeliveredEvent]) -> Result<Vec<(usize, String)>, StoreError> {
        if *self.down.lock().unwrap() {
            let mut down = StoreError::new("publish events", "memory bus", "the bus is down");
            down.retryable = true;
            return Err(down);
        }
        let refused = self.refused.lock().unwrap();
        let mut failed = Vec::new();
        for (i, event) in events.iter().enumerate() {
            if refused.contains(&event.id) {
                failed.push((i, "InternalFailure: refused".to_owned()));
            } else {
                self.published.lock().unwrap().push(event.clone());
            }
        }
        Ok(failed)
    }
}
