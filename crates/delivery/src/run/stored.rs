//! The entity's last run as stored: read back by fetch, fanout's fleet count, `status` and
//! `certificate status` alike.

use chrono::{DateTime, Utc};

use super::RunReport;

/// How long an unchanged status may stand: a run that changed nothing stores it only when the
/// stored one is older or differs, so idle entities rarely write and a success may lag this.
pub const STATUS_INTERVAL: chrono::Duration = chrono::Duration::hours(1);

/// The entity's last run as the state table holds it: a report this version reads, or one
/// it no longer reads (an older schema, a damaged item), shown as such and never dropped.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum StoredRun {
    Report(Box<RunReport>),
    Unreadable {
        /// What the stored item still says of its last success, so the time since survives.
        last_success_at: Option<DateTime<Utc>>,
        /// Why it does not read (serde's position, never the content).
        #[serde(rename = "unreadable")]
        error: String,
    },
}

impl StoredRun {
    /// The form the stores keep: the report's JSON.
    pub fn encode(report: &RunReport) -> String {
        serde_json::to_string(report).expect("a run report serialises")
    }

    /// What a store kept, read back.
    pub fn decode(stored: &str) -> Self {
        match serde_json::from_str::<RunReport>(stored) {
            Ok(report) => StoredRun::Report(Box::new(report)),
            Err(e) => {
                let value: serde_json::Value = serde_json::from_str(stored).unwrap_or_default();
                let kind = match e.classify() {
                    serde_json::error::Category::Data => "not a run report of this version",
                    _ => "not JSON",
                };
                StoredRun::Unreadable {
                    last_success_at: value["last_success_at"].as_str().and_then(|s| s.parse().ok()),
                    error: format!("line {} column {}: {kind}", e.line(), e.column()),
                }
            }
        }
    }

    pub fn report(&self) -> Option<&RunReport> {
        match self {
            StoredRun::Report(r) => Some(r),
            StoredRun::Unreadable { .. } => None,
        }
    }

    /// One line for a person: when it finished and how, or why it does not read.
    pub fn summary(&self) -> String {
        match self {
            StoredRun::Report(r) => format!(
                "{} {} (delivered {}, failed {})",
                r.finished_at.to_rfc3339(),
                r.outcome,
                r.delivered,
                r.failed
            ),
            StoredRun::Unreadable { error, .. } => format!("stored in a form this version does not read ({error})"),
        }
    }

    pub fn last_success_at(&self) -> Option<DateTime<Utc>> {
        match self {
            StoredRun::Report(r) => r.last_success_at,
            StoredRun::Unreadable { last_success_at, .. } => *last_success_at,
        }
    }
}

/// The stored last run and its last success, which one that no longer reads still gives.
pub fn previous_run(stored: Option<StoredRun>) -> (Option<RunReport>, Option<DateTime<Utc>>) {
    match stored {
        None => (None, None),
        Some(StoredRun::Report(report)) => {
            let since = report.last_success_at;
            (Some(*report), since)
        }
        Some(unreadable @ StoredRun::Unreadable { .. }) => {
            tracing::warn!(stored = ?unreadable, "the stored last run does not read; only its last success is kept");
            (None, unreadable.last_success_at())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_another_version_is_shown_as_such_with_its_last_success() {
        let at: DateTime<Utc> = "2026-03-02T08:00:00Z".parse().unwrap();
        let mut report = RunReport::new("r".into(), "0403170701".into(), false, at);
        report.last_success_at = Some(at);
        assert_eq!(
            StoredRun::decode(&StoredRun::encode(&report)),
            StoredRun::Report(Box::new(report))
        );
        let older = StoredRun::decode(r#"{"outcome": "fine", "last_success_at": "2026-03-02T08:00:00Z"}"#);
        assert_eq!(older.last_success_at(), Some(at));
        assert!(older.report().is_none());
        let StoredRun::Unreadable { error, .. } = StoredRun::decode("{not json") else {
            panic!("unreadable")
        };
        assert!(error.contains("not JSON"), "{error}");
        assert_eq!(previous_run(Some(older)), (None, Some(at)));
    }
}
