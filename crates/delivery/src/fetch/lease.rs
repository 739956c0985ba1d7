//! The entity's lease, taken the first time a run is about to write: until then a run
//! only reads, and two runs reading at once do no harm.
//!
//! The lease is short (two minutes by default) and renewed while the run works
//! ([`LazyLease::keep_alive`]), so a run that died blocks its entity only that long. A
//! run writes only while it knows its lease holds: every S3 write and ledger row is
//! preceded by [`LazyLease::holds`], and the cursor and status writes are fenced by the
//! run's token in the store itself, so a run whose lease was taken over writes nothing
//! more. The limit of any lease: an S3 upload already under way when renewals have
//! failed for most of a lease may still finish after the lease is gone.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};

use super::{Clock, RunError, Step};
use crate::EntityId;
use crate::ports::{Fence, Lease, LeaseOutcome, LeaseStore};

pub(super) struct LazyLease<'a> {
    store: &'a dyn LeaseStore,
    clock: &'a dyn Clock,
    duration: chrono::Duration,
    entity: &'a EntityId,
    run_id: &'a str,
    state: tokio::sync::OnceCell<LeaseState>,
    /// Until when this run may start a write: the clock's reading before the last take
    /// or renewal that succeeded, plus the lease's duration, less a quarter of it.
    valid_until: Mutex<Option<DateTime<Utc>>>,
    /// A renewal found another holder, or a fenced write was refused.
    lost: AtomicBool,
    taken: tokio::sync::Notify,
}

pub(super) enum LeaseState {
    Acquired,
    Held(Lease),
    Failed(RunError),
}

impl LeaseState {
    pub(super) fn is_acquired(&self) -> bool {
        matches!(self, LeaseState::Acquired)
    }
}

impl<'a> LazyLease<'a> {
    pub(super) fn new(
        store: &'a dyn LeaseStore,
        clock: &'a dyn Clock,
        duration: chrono::Duration,
        entity: &'a EntityId,
        run_id: &'a str,
    ) -> Self {
        Self {
            store,
            clock,
            duration,
            entity,
            run_id,
            state: tokio::sync::OnceCell::new(),
            valid_until: Mutex::new(None),
            lost: AtomicBool::new(false),
            taken: tokio::sync::Notify::new(),
        }
    }

    fn duration(&self) -> chrono::Duration {
        self.duration
    }

    /// Records a take or renewal that succeeded, made at `at`.
    fn confirmed(&self, at: DateTime<Utc>) {
        *self.valid_until.lock().expect("lease lock") = Some(at + self.duration() - self.duration() / 4);
    }

    /// The lease, taken now if it was not yet.
    pub(super) async fn take(&self) -> &LeaseState {
        self.state
            .get_or_init(|| async {
                let now = self.clock.now();
                let outcome = self
                    .store
                    .acquire(self.entity, self.run_id, now + self.duration(), now)
                    .await;
                match outcome {
                    Ok(LeaseOutcome::Acquired) => {
                        self.confirmed(now);
                        self.taken.notify_one();
                        LeaseState::Acquired
                    }
                    Ok(LeaseOutcome::HeldBy { holder, until }) => LeaseState::Held(Lease { holder, until }),
                    Err(e) => LeaseState::Failed(RunError {
                        step: Step::Lease,
                        message: e.to_string(),
                        retryable: e.retryable,
                    }),
                }
            })
            .await
    }

    /// Takes the lease if need be; whether this run may write now.
    pub(super) async fn take_and_hold(&self) -> bool {
        self.take().await.is_acquired() && self.holds()
    }

    /// Whether the run may start a write now: it took the lease, has not lost it, and its
    /// last renewal is recent enough that nobody else can have taken it over.
    pub(super) fn holds(&self) -> bool {
        self.acquired()
            && !self.lost.load(Ordering::SeqCst)
            && self
                .valid_until
                .lock()
                .expect("lease lock")
                .is_some_and(|until| self.clock.now() < until)
    }

    /// The token the run's DynamoDB writes are fenced by.
    pub(super) fn fence(&self) -> Fence<'_> {
        Fence(self.run_id)
    }

    /// The run's lease is gone (a fenced write was refused): no more writes.
    pub(super) fn lose(&self) {
        if !self.lost.swap(true, Ordering::SeqCst) {
            tracing::warn!("the entity's lease was taken over; this run stops writing");
        }
    }

    pub(super) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Renews the lease every quarter of its duration once it is taken, for as long as
    /// the run works; never returns. Beats keep their pace whatever a renewal takes: each
    /// has at most one beat, and one that fails or times out is tried again at the next.
    /// After two misses in a row [`Self::holds`] turns false, before the lease can expire
    /// at the store.
    pub(super) async fn keep_alive(&self) {
        self.taken.notified().await;
        let every = (self.duration() / 4)
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(1));
        let mut beats = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            beats.tick().await;
            if self.is_lost() {
                return std::future::pending().await;
            }
            let now = self.clock.now();
            let renewal = self.store.renew(self.entity, self.run_id, now + self.duration());
            match tokio::time::timeout(every, renewal).await {
                Ok(Ok(true)) => self.confirmed(now),
                Ok(Ok(false)) => self.lose(),
                Ok(Err(e)) => tracing::warn!(error = %e, "lease not renewed; trying again at the next beat"),
                Err(_) => tracing::warn!("lease renewal timed out; trying again at the next beat"),
            }
        }
    }

    /// What became of it, if the run tried to take it.
    pub(super) fn state(&self) -> Option<&LeaseState> {
        self.state.get()
    }

    pub(super) fn acquired(&self) -> bool {
        matches!(self.state.get(), Some(LeaseState::Acquired))
    }

    /// Whether the run is to stop walking: another run holds the entity, or took it over;
    /// an error when the lease could not be taken at all.
    pub(super) fn halted(&self) -> Result<bool, RunError> {
        match self.state() {
            Some(LeaseState::Held(_)) => Ok(true),
            Some(LeaseState::Failed(e)) => Err(e.clone()),
            _ => Ok(self.is_lost()),
        }
    }

    /// Gives the lease back, once the run's status is stored.
    pub(super) async fn release(&self) {
        if self.acquired()
            && let Err(e) = self.store.release(self.entity, self.run_id).await
        {
            tracing::warn!(error = %e, "lease not released; it expires by itself");
        }
    }
}
