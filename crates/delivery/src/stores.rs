//! The entity state: five narrow ports that are always one DynamoDB table (or one
//! in-memory twin), wired as one value.

use std::sync::Arc;

use crate::aws::{AwsClients, DynamoState};
use crate::ports::{CursorStore, LeaseStore, Ledger, RunReportStore, StateSnapshots};
use crate::schema::StorageNames;

#[derive(Clone)]
pub struct Stores {
    pub snapshots: Arc<dyn StateSnapshots>,
    pub leases: Arc<dyn LeaseStore>,
    pub cursors: Arc<dyn CursorStore>,
    pub ledger: Arc<dyn Ledger>,
    pub reports: Arc<dyn RunReportStore>,
}

impl Stores {
    /// Every port served by one value, as one table serves them.
    pub fn of<S>(state: Arc<S>) -> Self
    where
        S: StateSnapshots + LeaseStore + CursorStore + Ledger + RunReportStore + 'static,
    {
        Self {
            snapshots: state.clone(),
            leases: state.clone(),
            cursors: state.clone(),
            ledger: state.clone(),
            reports: state,
        }
    }

    pub fn aws(clients: &AwsClients, names: &StorageNames) -> Self {
        Self::of(Arc::new(DynamoState::new(clients.dynamodb.clone(), &names.state_table)))
    }
}
