//! The outcomes of delivering one message: what became of it, and why it failed when it
//! did. Pure data, shared by the steps of a walk and its tally.

use ebox::EboxError;

use super::Step;
use crate::ports::StoreError;

/// Why a message was not delivered (a message-level failure: the run goes on, and the next
/// one tries again). The cause is kept as the error's source.
#[derive(Debug, thiserror::Error)]
pub(super) enum Failure {
    /// e-Box answered with an error.
    #[error("{source}")]
    Ebox {
        step: Step,
        #[source]
        source: EboxError,
    },
    /// A store failed.
    #[error("{source}")]
    Store {
        step: Step,
        #[source]
        source: StoreError,
    },
    /// The local disk failed (attachments without a digest are spooled there).
    #[error("{what}: {source}")]
    Disk {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The run lost the entity's lease: another run carries on.
    #[error("the run no longer holds the entity's lease; the next run delivers it")]
    LeaseLost,
    /// What was found is not what a delivery can go on with.
    #[error("{detail}")]
    Refused {
        step: Step,
        detail: String,
        retryable: bool,
    },
}

impl Failure {
    pub(super) fn ebox(step: Step, source: EboxError) -> Self {
        Failure::Ebox { step, source }
    }

    pub(super) fn store(source: StoreError) -> Self {
        Failure::Store {
            step: Step::Store,
            source,
        }
    }

    pub(super) fn lease_lost() -> Self {
        Failure::LeaseLost
    }

    pub(super) fn step(&self) -> Step {
        match self {
            Failure::Ebox { step, .. } | Failure::Store { step, .. } | Failure::Refused { step, .. } => *step,
            Failure::Disk { .. } => Step::Attachment,
            Failure::LeaseLost => Step::Lease,
        }
    }

    /// Whether the next run may succeed where this one failed.
    pub(super) fn retryable(&self) -> bool {
        match self {
            Failure::Ebox { source, .. } => source.retryable(),
            Failure::Store { source, .. } => source.retryable,
            Failure::Disk { .. } | Failure::LeaseLost => true,
            Failure::Refused { retryable, .. } => *retryable,
        }
    }
}

/// What became of a message the ledger did not know.
pub(super) enum Delivery {
    New {
        bytes: u64,
    },
    /// Complete in the verdeelbak already (a run died before its ledger row): only the
    /// ledger row was written now.
    Completed,
    /// Another run recorded it in the meantime.
    AlreadyRecorded,
    /// Not delivered; the run goes on, and the next one tries again.
    Failed(Failure),
}
