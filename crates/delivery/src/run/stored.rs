//! The entity's last run as stored: read back by fetch, fanout's fleet count, `status` and
//! `certificate status` alike.

use chrono::{DateTime, Utc};

use super::RunReport;

/// How long an unchanged status may stand: a run that changed nothing stores its status
/// only when the stored one is older (or says something else), so an idle entity costs
/// no write on most ticks, and a stored success may lag by this much.
pub const STATUS_INTERVAL: chrono::Duration = chrono::Duration::hours(1);

/// The stored last run. One that no longer parses (an older schema) still gives its
/// last success, so that the time since it survives.
pub fn previous_run(stored: Option<serde_json::Value>) -> (Option<RunReport>, Option<DateTime<Utc>>) {
    let Some(value) = stored else { return (None, None) };
    match serde_json::from_value::<RunReport>(value.clone()) {
        Ok(report) => {
            let since = report.last_success_at;
            (Some(report), since)
        }
        Err(e) => {
            tracing::warn!(error = %e, "the stored last run does not parse; only its last success is kept");
            let since = value["last_success_at"].as_str().and_then(|s| s.parse().ok());
            (None, since)
        }
    }
}
