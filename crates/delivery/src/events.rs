//! Publishing delivered-message events from ledger rows, for a run's outbox (`fetch::outbox`)
//! and an operator's replay: the event is derived from the stored `message.json`, so a
//! replayed event is the one published at delivery, with the same id.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::EntityId;
use crate::ports::*;
use crate::verdeelbak::event::{self, DeliveredEvent};

/// Publishes `events` in calls of [`PUBLISH_BATCH`]; for each, whether the bus took it
/// (or why not). A failed call fails its whole batch; a failed entry only itself.
pub async fn publish(bus: &dyn EventBus, events: &[DeliveredEvent]) -> Vec<Result<(), String>> {
    let mut outcomes = Vec::with_capacity(events.len());
    for batch in events.chunks(PUBLISH_BATCH) {
        match bus.publish(batch).await {
            Ok(failed) => outcomes.extend((0..batch.len()).map(|i| match failed.iter().find(|(at, _)| *at == i) {
                Some((_, reason)) => Err(reason.clone()),
                None => Ok(()),
            })),
            Err(e) => outcomes.extend(batch.iter().map(|_| Err(e.to_string()))),
        }
    }
    outcomes
}

/// A ledger row's event, from its stored `message.json`.
pub async fn event_of(objects: &dyn ObjectStore, row: &LedgerEntry) -> Result<DeliveredEvent, String> {
    let stored = objects
        .get(&row.message_key)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{}: not found", row.message_key))?;
    event::from_message_json(&row.message_key, &stored)
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    pub entity_id: String,
    /// Ledger rows delivered in the period.
    pub rows: u64,
    pub published: u64,
    /// `message_id: reason` of each event not published.
    pub failed: Vec<String>,
}

/// Publishes again, for a consumer that lost its own, the events of the entity's messages
/// delivered since `since` (all without); a pending row is marked published once taken.
pub async fn replay(
    ledger: &dyn Ledger,
    objects: &dyn ObjectStore,
    bus: &dyn EventBus,
    entity: &EntityId,
    since: Option<DateTime<Utc>>,
) -> Result<ReplayReport, StoreError> {
    let rows = ledger.delivered_since(entity, since).await?;
    let mut report = ReplayReport {
        entity_id: entity.to_string(),
        rows: rows.len() as u64,
        ..ReplayReport::default()
    };
    let mut ready = Vec::new();
    for row in &rows {
        match event_of(objects, row).await {
            Ok(event) => ready.push((row, event)),
            Err(e) => report.failed.push(format!("{}: {e}", row.message_id)),
        }
    }
    let events: Vec<DeliveredEvent> = ready.iter().map(|(_, e)| e.clone()).collect();
    for ((row, _), outcome) in ready.iter().zip(publish(bus, &events).await) {
        match outcome {
            Ok(()) => {
                report.published += 1;
                if row.event_pending {
                    ledger
                        .event_published(entity, &row.provider_id, &row.message_id)
                        .await?;
                }
            }
            Err(e) => report.failed.push(format!("{}: {e}", row.message_id)),
        }
    }
    Ok(report)
}
