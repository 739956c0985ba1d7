//! The entity's lease, taken the first time a run is about to write: until then a run
//! only reads, and two runs reading at once do no harm.

use super::{Fetcher, RunError, Step};
use crate::EntityId;
use crate::ports::{Lease, LeaseOutcome};

pub(super) struct LazyLease<'a> {
    fetcher: &'a Fetcher,
    entity: &'a EntityId,
    run_id: &'a str,
    state: tokio::sync::OnceCell<LeaseState>,
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
    pub(super) fn new(fetcher: &'a Fetcher, entity: &'a EntityId, run_id: &'a str) -> Self {
        Self {
            fetcher,
            entity,
            run_id,
            state: tokio::sync::OnceCell::new(),
        }
    }

    /// The lease, taken now if it was not yet.
    pub(super) async fn take(&self) -> &LeaseState {
        self.state
            .get_or_init(|| async {
                let f = self.fetcher;
                let now = f.clock.now();
                match f
                    .stores
                    .leases
                    .acquire(self.entity, self.run_id, now + f.settings.lease_duration, now)
                    .await
                {
                    Ok(LeaseOutcome::Acquired) => LeaseState::Acquired,
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

    /// What became of it, if the run tried to take it.
    pub(super) fn state(&self) -> Option<&LeaseState> {
        self.state.get()
    }

    pub(super) fn acquired(&self) -> bool {
        matches!(self.state.get(), Some(LeaseState::Acquired))
    }
}
