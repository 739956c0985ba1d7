//! One run's context once its session is open: what the steps of a walk share.

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::lease::LazyLease;
use super::{FetchRequest, Fetcher};
use crate::EntityId;
use crate::ports::*;

/// One run's context, once its session is open.
pub(crate) struct Run<'a> {
    pub fetcher: &'a Fetcher,
    pub entity: EntityId,
    pub connection: Connection,
    pub cursors: BTreeMap<String, Cursor>,
    pub lease: &'a LazyLease<'a>,
    pub session: std::sync::Arc<dyn Mailbox>,
    pub request: &'a FetchRequest,
    pub deadline: Option<Instant>,
    pub events: &'a super::outbox::EventTally,
    /// List everything, not only from the cursor, and count what the cursor's walk
    /// could no longer have seen.
    pub reconcile: bool,
}
