//! What a run is asked: by the schedule (through fanout), or by an operator.

use chrono::NaiveDate;
use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchRequest {
    pub entity_id: String,
    /// Re-deliver what is not yet delivered from this date on (a backfill); the live cursor
    /// never moves back.
    #[serde(default)]
    pub since: Option<NaiveDate>,
    /// Walk and report what would be written; write nothing.
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub providers: Option<Vec<String>>,
    /// Reconcile now (walk everything e-Box holds, not only from the cursor), due or not.
    #[serde(default)]
    pub reconcile: bool,
}
