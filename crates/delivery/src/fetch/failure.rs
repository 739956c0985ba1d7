//! Why a message was not delivered: the message-level error of a walk's steps.

use ebox::EboxError;

use super::{RunError, Step};
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

/// A run-level error: the run stops at `step`.
pub(super) fn fail(step: Step, message: String, retryable: bool) -> RunError {
    RunError {
        step,
        message,
        retryable,
    }
}
