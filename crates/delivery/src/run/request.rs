//! What a run is asked: by the schedule (through fanout), or by an operator.

use chrono::NaiveDate;
use serde::Deserialize;

/// What an invocation asks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchRequest {
    pub entity_id: String,
    /// Re-deliver what is not yet delivered from this date on (a backfill). It never
    /// moves the live cursor backwards.
    #[serde(default)]
    pub since: Option<NaiveDate>,
    /// Walk and report what would be written; write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Only these providers.
    #[serde(default)]
    pub providers: Option<Vec<String>>,
    /// Reconcile now: walk everything e-Box holds, not only from the cursor, whether or
    /// not one is due.
    #[serde(default)]
    pub reconcile: bool,
}
