//! The transactional outbox: each ledger row is recorded with its event pending, the
//! event is published right after, and the row is marked published once the bus took it.
//! A publish that fails does not fail the delivery; the row stays pending and a later run
//! publishes it (bounded per run). Delivery is at least once, with a deterministic id.

use std::sync::atomic::{AtomicU64, Ordering};

use super::EventsReport;
use super::lease::LazyLease;
use crate::EntityId;
use crate::ports::{EventBus, Ledger, ObjectStore};
use crate::verdeelbak::event::{self, DeliveredEvent};

/// The most pending events one run publishes.
pub const PENDING_PER_RUN: usize = 200;

/// What a run did with events, counted as its deliveries run side by side.
#[derive(Default)]
struct EventTally {
    published: AtomicU64,
    pending: AtomicU64,
    registered: AtomicU64,
}

/// The run's publisher: the ledger's event columns, the stored `message.json`s of pending
/// rows, the bus, and the lease that says whether a row may still be marked.
pub(super) struct Publisher<'a> {
    pub entity: &'a EntityId,
    pub ledger: &'a dyn Ledger,
    pub objects: &'a dyn ObjectStore,
    pub bus: &'a dyn EventBus,
    pub lease: &'a LazyLease<'a>,
    tally: EventTally,
}

/// A row whose event is to be published: which message, and its `message.json`.
pub(super) struct Outgoing<'a> {
    pub provider_id: &'a str,
    pub message_id: &'a str,
    pub message_key: &'a str,
    pub message_json: &'a [u8],
}

impl<'a> Publisher<'a> {
    pub(super) fn new(
        entity: &'a EntityId,
        ledger: &'a dyn Ledger,
        objects: &'a dyn ObjectStore,
        bus: &'a dyn EventBus,
        lease: &'a LazyLease<'a>,
    ) -> Self {
        let tally = EventTally::default();
        Self {
            entity,
            ledger,
            objects,
            bus,
            lease,
            tally,
        }
    }

    pub(super) fn report(&self) -> EventsReport {
        let t = &self.tally;
        EventsReport {
            published: t.published.load(Ordering::Relaxed),
            pending: t.pending.load(Ordering::Relaxed),
            registered_delivered: t.registered.load(Ordering::Relaxed),
        }
    }

    /// A registered message was delivered.
    pub(super) fn registered(&self) {
        self.tally.registered.fetch_add(1, Ordering::Relaxed);
    }

    /// Publishes the events of `rows` (their rows recorded as pending), ten per call, and
    /// marks each one the bus took as published. Never an error: what fails stays pending.
    pub(super) async fn publish_rows(&self, rows: &[Outgoing<'_>]) {
        let (entity, tally, lease) = (self.entity, &self.tally, self.lease);
        let mut events: Vec<(&Outgoing, DeliveredEvent)> = Vec::new();
        for row in rows {
            match event::from_message_json(row.message_key, row.message_json) {
                Ok(e) => events.push((row, e)),
                Err(e) => {
                    tracing::error!(entity = %entity, key = row.message_key, error = %e, "no event for this message.json; its row stays pending");
                    tally.pending.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let only: Vec<DeliveredEvent> = events.iter().map(|(_, e)| e.clone()).collect();
        let outcomes = crate::events::publish(self.bus, &only).await;
        for ((row, e), outcome) in events.iter().zip(outcomes) {
            if let Err(reason) = outcome {
                tracing::warn!(entity = %entity, event_id = %e.id, reason, "event not taken by the bus; it stays pending");
                tally.pending.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            tally.published.fetch_add(1, Ordering::Relaxed);
            // Not marked after the lease is gone: the row stays pending, and is published
            // again by a later run (at least once).
            if !lease.holds() {
                continue;
            }
            if let Err(e) = self
                .ledger
                .event_published(entity, row.provider_id, row.message_id)
                .await
            {
                // Published but still pending: a later run publishes it again.
                tracing::warn!(entity = %entity, error = %e, "event published, its row not marked; it is published again later");
            }
        }
    }

    /// Publishes what earlier runs left pending, at most [`PENDING_PER_RUN`]. Not after
    /// the bus refused this run's own events: they stay pending, and are counted.
    pub(super) async fn publish_pending(&self) {
        let (entity, tally, lease) = (self.entity, &self.tally, self.lease);
        if tally.pending.load(Ordering::Relaxed) > 0 {
            return;
        }
        let rows = match self.ledger.pending_events(entity, PENDING_PER_RUN).await {
            Ok(rows) if rows.is_empty() => return,
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(entity = %entity, error = %e, "pending events not read; the next run tries again");
                tally.pending.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        if !lease.take_and_hold().await {
            tally.pending.fetch_add(rows.len() as u64, Ordering::Relaxed);
            return;
        }
        let mut stored = Vec::with_capacity(rows.len());
        for row in &rows {
            match self.objects.get(&row.message_key).await {
                Ok(Some(bytes)) => stored.push((row, bytes)),
                Ok(None) | Err(_) => {
                    tracing::warn!(entity = %entity, key = %row.message_key, "message.json of a pending event not read; the next run tries again");
                    tally.pending.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let outgoing: Vec<Outgoing> = stored
            .iter()
            .map(|(row, bytes)| Outgoing {
                provider_id: &row.provider_id,
                message_id: &row.message_id,
                message_key: &row.message_key,
                message_json: bytes,
            })
            .collect();
        self.publish_rows(&outgoing).await;
        if rows.len() == PENDING_PER_RUN && tally.pending.load(Ordering::Relaxed) == 0 {
            // More may be left: the next run looks again.
            tally.pending.fetch_add(1, Ordering::Relaxed);
        }
    }
}
