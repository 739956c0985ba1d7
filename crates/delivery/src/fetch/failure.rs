//! The outcomes of delivering one message: what became of it, and why it failed when it
//! did. Pure data, shared by the steps of a walk and its tally.

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
