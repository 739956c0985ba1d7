//! Why a message was not delivered: the step, the cause, and whether a rerun may succeed.

use ebox::EboxError;

use super::Step;
use crate::ports::StoreError;

/// A message not delivered; the run goes on, and the next one tries again.
pub(super) struct Failure {
    pub step: Step,
    pub error: String,
    pub retryable: bool,
}

impl Failure {
    pub(super) fn ebox(step: Step, e: EboxError) -> Self {
        Self {
            step,
            retryable: e.retryable(),
            error: e.to_string(),
        }
    }

    pub(super) fn store(e: StoreError) -> Self {
        Self {
            step: Step::Store,
            retryable: e.retryable,
            error: e.to_string(),
        }
    }

    pub(super) fn lease_lost() -> Self {
        Self {
            step: Step::Lease,
            error: "the run no longer holds the entity's lease; the next run delivers it".into(),
            retryable: true,
        }
    }
}
