//! The event bus on EventBridge: `PutEvents` on one custom bus.

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::store_error;
use crate::ports::*;
use crate::verdeelbak::event::{DeliveredEvent, EVENT_DETAIL_TYPE, EVENT_SOURCE};

pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgeBus {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: &str) -> Self {
        Self {
            client,
            bus: bus.to_owned(),
        }
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[DeliveredEvent]) -> Result<Vec<(usize, String)>, StoreError> {
        const OP: &str = "publish events";
        let entries = events
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(EVENT_SOURCE)
                    .detail_type(EVENT_DETAIL_TYPE)
                    .detail(e.detail_json())
                    .build()
            })
            .collect();
        let out = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| store_error(OP, &self.bus, e))?;
        let mut failed: Vec<(usize, String)> = out
            .entries()
            .iter()
            .enumerate()
            .filter_map(|(i, entry)| {
                entry
                    .error_code()
                    .map(|code| (i, format!("{code}: {}", entry.error_message().unwrap_or_default())))
            })
            .collect();
        // A count without the entries that failed: all of them are taken as failed.
        if failed.is_empty() && out.failed_entry_count() > 0 {
            failed = (0..events.len())
                .map(|i| (i, "failed (no entry detail)".to_owned()))
                .collect();
        }
        Ok(failed)
    }
}
