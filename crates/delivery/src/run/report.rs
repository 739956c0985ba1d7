//! The run report: the fetch Lambda's answer, one structured log line, and the entity's
//! last-run status. It never holds a secret.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const REPORT_SCHEMA: &str = "digipost-ebox.run-report.v1";

/// Which of a secret's key pairs.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Pair {
    Current,
    Next,
}

/// How a provider id was tied to the registry the entity knew under another id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recognised {
    /// Recorded by an earlier run.
    RecordedName,
    /// The same registry URL.
    RegistryUrl,
    /// Its messages are in the ledger under the other id.
    Messages,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    #[default]
    Ok,
    /// Time ran out or some messages failed: the next run continues.
    Partial,
    AlreadyRunning,
    Failed,
}

/// Where a run or a message failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Step {
    Input,
    Connection,
    /// Reading the entity's lease, cursors and last run.
    State,
    Lease,
    Secret,
    Token,
    Providers,
    Listing,
    Attachment,
    Body,
    Store,
    Ledger,
    Cursor,
    Report,
}

/// An entity-level failure: the run could not do its work (message failures are
/// [`MessageFailure`]s, and the run goes on past them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{step}: {message}")]
pub struct RunError {
    pub step: Step,
    pub message: String,
    pub retryable: bool,
}

/// A message-level failure: this message waits for the next run; the others went on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageFailure {
    pub message_id: String,
    pub step: Step,
    pub reason: String,
    pub retryable: bool,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What a run did with a provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ProviderStatus {
    /// Walked (see `walk_complete` for how far).
    #[default]
    Read,
    /// Planned maintenance: skipped this run, not an error.
    Maintenance,
    /// Could not be read (a discovery entry that was not understood).
    Failed,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderReport {
    /// The id its messages are stored under.
    pub provider_id: String,
    /// The id discovery gave it this run, when that is another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed_as: Option<String>,
    /// How the registry was recognised under that other id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recognised_by: Option<Recognised>,
    pub state: ProviderStatus,
    pub listed: u64,
    pub new: u64,
    pub delivered: u64,
    pub already_delivered: u64,
    pub failed: Vec<MessageFailure>,
    pub bytes: u64,
    pub walk_complete: bool,
    pub cursor_before: Option<DateTime<Utc>>,
    pub cursor_after: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The listing was refused in a way only a person can mend (a scope missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_action: Option<crate::health::Action>,
    /// A reconcile walk: listed messages the ledger lacked and the incremental walk missed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub found_missing: u64,
    /// Dry runs: the keys a real run would write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub would_write: Vec<String>,
    /// List items that were not readable messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<UnreadableReport>,
}

/// A list item that was not a readable message: kept raw, never dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadableReport {
    /// Whatever id it carries.
    pub message_id: Option<String>,
    pub reason: String,
    /// Where its JSON is kept.
    pub key: Option<String>,
    /// Why it could not be kept (the cursor then waits for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub first_seen: DateTime<Utc>,
    /// Until then the cursor does not move past it.
    pub held_until: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    pub schema: String,
    pub run_id: String,
    pub entity_id: String,
    pub outcome: Outcome,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub delivered: u64,
    pub failed: u64,
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RunError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
    /// The last run that ended `ok`, this one or earlier (idle runs store their status once
    /// per status interval, so an earlier one may lag the real last success by that much).
    #[serde(default)]
    pub last_success_at: Option<DateTime<Utc>>,
    /// When the certificate in use expires, when the run got that far.
    #[serde(default)]
    pub certificate_expires_at: Option<DateTime<Utc>>,
    /// Which of the secret's key pairs e-Box accepted (during a rotation the next one is
    /// tried first), and its certificate's SHA-256 thumbprint; absent when none was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_pair: Option<Pair>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_thumbprint: Option<String>,
    pub providers: Vec<ProviderReport>,
    /// What the run published on the event bus.
    #[serde(default)]
    pub events: EventsReport,
    /// e-Box refused the credentials or a scope (or our secret is not usable): a person
    /// has to redo this step before mail flows again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_action: Option<crate::health::Action>,
    /// When the last reconcile (a walk of everything e-Box holds) ended, this run's or earlier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconcile_at: Option<DateTime<Utc>>,
    /// What this run's reconcile found that the ledger lacked; absent without a reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile_found_missing: Option<u64>,
}

/// A run's events: published, and left pending for a later run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsReport {
    pub published: u64,
    /// Left pending (at least this many; a later run publishes them).
    pub pending: u64,
    /// Registered mail among the messages delivered.
    pub registered_delivered: u64,
}

impl RunReport {
    /// A report of a run just started: `ok` until something says otherwise.
    pub fn new(run_id: String, entity_id: String, dry_run: bool, started_at: DateTime<Utc>) -> Self {
        Self {
            schema: REPORT_SCHEMA.into(),
            run_id,
            entity_id,
            dry_run,
            started_at,
            finished_at: started_at,
            ..Self::default()
        }
    }

    /// Another run holds the entity: this one stands back.
    pub fn already_running(&mut self, holder: &str, until: DateTime<Utc>) {
        self.outcome = Outcome::AlreadyRunning;
        self.held_by = Some(format!("run {holder} until {}", until.to_rfc3339()));
    }

    /// Totals and the outcome, from what the providers reported.
    pub fn finish(&mut self, finished_at: DateTime<Utc>, took: std::time::Duration) {
        self.delivered = self.providers.iter().map(|p| p.delivered).sum();
        self.failed = self.providers.iter().map(|p| p.failed.len() as u64).sum();
        self.bytes = self.providers.iter().map(|p| p.bytes).sum();
        self.finished_at = finished_at;
        self.duration_ms = took.as_millis() as u64;
        // Mail that is listed but not delivered needs someone to look, whatever the walk.
        let incomplete = self.providers.iter().any(|p| {
            p.state == ProviderStatus::Failed
                || (p.state == ProviderStatus::Read && !p.walk_complete)
                || !p.unreadable.is_empty()
        });
        if let Some(action) = self.providers.iter().find_map(|p| p.needs_action) {
            self.needs_action.get_or_insert(action);
        }
        if self.outcome == Outcome::Ok && (self.failed > 0 || incomplete) {
            self.outcome = Outcome::Partial;
        }
        if self.outcome == Outcome::Ok && !self.dry_run {
            self.last_success_at = Some(finished_at);
        }
    }

    /// List items that were not readable messages.
    pub fn unreadable(&self) -> u64 {
        self.providers.iter().map(|p| p.unreadable.len() as u64).sum()
    }

    /// The earliest expiration among the messages this run could not deliver.
    pub fn earliest_undelivered_expiry(&self) -> Option<DateTime<Utc>> {
        self.providers
            .iter()
            .flat_map(|p| &p.failed)
            .filter_map(|f| f.expires_at)
            .min()
    }

    /// Whether `other` tells an operator the same: outcome, errors, and each provider's state
    /// and cursor; counts and times aside.
    pub fn same_status(&self, other: &RunReport) -> bool {
        let providers = |r: &RunReport| {
            r.providers
                .iter()
                .map(|p| {
                    (
                        p.provider_id.clone(),
                        p.state,
                        p.error.clone(),
                        p.walk_complete,
                        p.cursor_after,
                        p.failed.iter().map(|f| f.message_id.clone()).collect::<Vec<_>>(),
                        p.unreadable.iter().map(|u| u.key.clone()).collect::<Vec<_>>(),
                    )
                })
                .collect::<Vec<_>>()
        };
        self.outcome == other.outcome
            && self.error == other.error
            && self.needs_action == other.needs_action
            && self.last_reconcile_at == other.last_reconcile_at
            && self.certificate_expires_at == other.certificate_expires_at
            && self.certificate_thumbprint == other.certificate_thumbprint
            && providers(self) == providers(other)
    }

    /// Whether an automatic retry of the whole invocation can help.
    pub fn retry_can_help(&self) -> bool {
        self.outcome == Outcome::Failed && self.error.as_ref().is_some_and(|e| e.retryable)
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
