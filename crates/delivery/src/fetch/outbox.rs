//! The transactional outbox. A delivered message's event is published once its
//! `message.json` is stored and before its ledger row is recorded: the row is recorded
//! published when the bus took the event, pending when it did not. A run that dies between
//! the two leaves a complete message without a row, which the next run records and
//! announces again. A publish that fails does not fail the delivery; the row stays pending
//! and a later run publishes it (bounded per run), then marks it. Delivery is at least
//! once, with a deterministic id.

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

    /// Publishes the events of new rows before the rows are recorded: for each, true when
    /// the bus took it, so the row is recorded published; false leaves it to be recorded
    /// pending.
    pub(super) async fn publish_new(&self, rows: &[Outgoing<'_>]) -> Vec<bool> {
        self.publish(rows).await
    }

    /// Publishes the events of `rows`, ten per call, counting each as published or
    /// pending; whether the bus took each, in order. Never an error.
    async fn publish(&self, rows: &[Outgoing<'_>]) -> Vec<bool> {
        let (entity, tally) = (self.entity, &self.tally);
        let mut taken = vec![false; rows.len()];
        let mut events: Vec<(usize, DeliveredEvent)> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            match event::from_message_json(row.message_key, row.message_json) {
                Ok(e) => events.push((i, e)),
                Err(e) => {
                    tracing::error!(entity = %entity, key = row.message_key, error = %e, "no event for this message.json; its row stays pending");
                    tally.pending.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let only: Vec<DeliveredEvent> = events.iter().map(|(_, e)| e.clone()).collect();
        let outcomes = crate::events::publish(self.bus, &only).await;
        for ((i, e), outcome) in events.iter().zip(outcomes) {
            match outcome {
                Ok(()) => {
                    tally.published.fetch_add(1, Ordering::Relaxed);
                    taken[*i] = true;
                }
                Err(reason) => {
                    tracing::warn!(entity = %entity, event_id = %e.id, reason, "event not taken by the bus; it stays pending");
                    tally.pending.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        taken
    }

    /// Publishes the events of rows recorded as pending, and marks each one the bus took
    /// as published. Never an error: what fails stays pending.
    async fn publish_pending_rows(&self, rows: &[Outgoing<'_>]) {
        let taken = self.publish(rows).await;
        for (row, _) in rows.iter().zip(taken).filter(|(_, taken)| *taken) {
            // Not marked after the lease is gone: the row stays pending, and is published
            // again by a later run (at least once).
            if !self.lease.holds() {
                continue;
            }
            if let Err(e) = self
                .ledger
                .event_published(self.entity, row.provider_id, row.message_id)
                .await
            {
                // Published but still pending: a later run publishes it again.
                tracing::warn!(entity = %self.entity, error = %e, "event published, its row not marked; it is published again later");
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
        self.publish_pending_rows(&outgoing).await;
        if rows.len() == PENDING_PER_RUN && tally.pending.load(Ordering::Relaxed) == 0 {
            // More may be left: the next run looks again.
            tally.pending.fetch_add(1, Ordering::Relaxed);
        }
    }
}
