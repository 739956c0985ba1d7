//! The fetch use case: deliver one entity's e-Box into its verdeelbak, exactly once.
//!
//! Steps: check the entity id; load the connection; read the entity's state (lease,
//! cursors, last run) in one query; resolve the key material; get a token; list the
//! providers; walk each active provider from its cursor (overlapping the previous walk, as
//! e-Box filters on dates); deliver each message neither the cursor nor the ledger knows
//! (attachments and body first, `message.json` last, then the ledger row); advance the
//! cursor after a complete walk, never past an undelivered message; release the lease;
//! store the status.
//!
//! The lease is taken the first time the run is about to write, so a run with nothing new
//! writes nothing: two DynamoDB reads and one e-Box listing per provider.

pub mod credentials;
pub mod keys;
pub mod message_json;
mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use ebox::model::{Attachment, Listed, ListedMessage, MessageProvider, ProviderState, ReferenceKind, UnreadableItem};
use ebox::{Ebox, EboxError, Session};
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

pub use report::*;

use crate::EntityId;
use crate::ports::*;
use message_json::StoredAttachment;

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
}

#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// Messages of one entity delivered at once.
    pub concurrency: usize,
    /// How long a lease holds; longer than the function's timeout.
    pub lease_duration: chrono::Duration,
    /// No new message is started when less than this is left.
    pub time_margin: Duration,
    /// How far each walk reaches back before the cursor's day.
    pub overlap: chrono::Duration,
    /// Where attachments without a digest are hashed before upload.
    pub spool_dir: PathBuf,
    /// A run that changed nothing stores its status only when the stored one is older than
    /// this (or says something else), so an idle entity costs no write on most ticks.
    pub status_interval: chrono::Duration,
    /// How long the cursor waits for a list item that is not a readable message, so that
    /// each walk looks at it again (a registry may mend it); then it moves on, leaving the
    /// raw copy and the `Unreadable` metric.
    pub unreadable_hold: chrono::Duration,
}

/// The most delivered messages a cursor remembers (see [`Cursor::recent`]); beyond it the
/// oldest are asked of the ledger again. About 60 bytes each in the cursor's item.
pub const RECENT_LIMIT: usize = 2000;

impl Default for FetchSettings {
    fn default() -> Self {
        Self {
            concurrency: 8,
            lease_duration: chrono::Duration::minutes(16),
            time_margin: Duration::from_secs(30),
            overlap: chrono::Duration::days(2),
            spool_dir: std::env::temp_dir(),
            status_interval: chrono::Duration::hours(1),
            unreadable_hold: chrono::Duration::days(3),
        }
    }
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Points of a delivery where a run can be cut short; tests use them to kill a run at
/// each step and check that a rerun still delivers everything exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkpoint {
    AttachmentsStored { message_id: String },
    MessageJsonStored { message_id: String },
    LedgerRecorded { message_id: String },
    BeforeCursor { provider_id: String },
}

/// The run was cut off at a checkpoint, as if the process had died there: no lease
/// release, no cursor, no report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("run interrupted at {0:?}")]
pub struct Interrupted(pub Checkpoint);

pub trait Checkpoints: Send + Sync {
    fn reached(&self, checkpoint: &Checkpoint) -> Result<(), Interrupted>;
}

pub struct NoCheckpoints;

impl Checkpoints for NoCheckpoints {
    fn reached(&self, _: &Checkpoint) -> Result<(), Interrupted> {
        Ok(())
    }
}

/// Everything fetch needs, built once per process.
#[derive(Clone)]
pub struct Fetcher {
    pub connections: Arc<dyn ConnectionStore>,
    pub snapshots: Arc<dyn StateSnapshots>,
    pub leases: Arc<dyn LeaseStore>,
    pub cursors: Arc<dyn CursorStore>,
    pub ledger: Arc<dyn Ledger>,
    pub reports: Arc<dyn RunReportStore>,
    pub objects: Arc<dyn ObjectStore>,
    pub secrets: Arc<dyn SecretStore>,
    pub ebox: Ebox,
    pub clock: Arc<dyn Clock>,
    pub checkpoints: Arc<dyn Checkpoints>,
    pub settings: FetchSettings,
}

/// One run's context.
struct Run<'a> {
    fetcher: &'a Fetcher,
    entity: EntityId,
    connection: Connection,
    cursors: std::collections::BTreeMap<String, Cursor>,
    lease: &'a LazyLease<'a>,
    session: Session,
    request: &'a FetchRequest,
    deadline: Option<Instant>,
}

/// The entity's lease, taken the first time the run is about to write.
struct LazyLease<'a> {
    fetcher: &'a Fetcher,
    entity: &'a EntityId,
    run_id: &'a str,
    state: tokio::sync::OnceCell<LeaseState>,
}

enum LeaseState {
    Acquired,
    Held(Lease),
    Failed(RunError),
}

impl LazyLease<'_> {
    async fn take(&self) -> &LeaseState {
        self.state
            .get_or_init(|| async {
                let f = self.fetcher;
                let now = f.clock.now();
                match f
                    .leases
                    .acquire(self.entity, self.run_id, now + f.settings.lease_duration, now)
                    .await
                {
                    Ok(LeaseOutcome::Acquired) => LeaseState::Acquired,
                    Ok(LeaseOutcome::HeldBy { holder, until }) => LeaseState::Held(Lease { holder, until }),
                    Err(e) => LeaseState::Failed(RunError {
                        step: Step::Lease,
                        message: e.to_string(),
                        retryable: e.retryable,
                    }),
                }
            })
            .await
    }

    fn acquired(&self) -> bool {
        matches!(self.state.get(), Some(LeaseState::Acquired))
    }
}

/// A delivery: done, failed (the run goes on), or cut off at a checkpoint.
type Attempt = Result<Result<Delivered, Failure>, Interrupted>;

/// A listed message, as the ledger sees it.
enum Seen {
    Known(String, Option<DateTime<Utc>>),
    Fresh(Box<ListedMessage>),
    Unreadable(Box<UnreadableItem>),
    Stop(String),
}

/// What became of it.
enum Done {
    Known(String, Option<DateTime<Utc>>),
    /// Kept raw under this key, or not.
    Unreadable(Box<UnreadableItem>, Result<String, Failure>),
    /// Another run holds the lease (or it could not be taken): not attempted.
    NoLease,
    Planned(Vec<String>),
    NotStarted,
    Stopped(String),
    Delivered(Box<ListedMessage>, Result<Delivered, Failure>),
}

enum Delivered {
    New {
        bytes: u64,
    },
    /// Another run recorded it in the meantime.
    AlreadyRecorded,
}

struct Failure {
    step: Step,
    error: String,
    retryable: bool,
}

impl Failure {
    fn ebox(step: Step, e: EboxError) -> Self {
        Self {
            step,
            retryable: e.retryable(),
            error: e.to_string(),
        }
    }

    fn store(e: StoreError) -> Self {
        Self {
            step: Step::Store,
            retryable: e.retryable,
            error: e.to_string(),
        }
    }
}

impl Fetcher {
    /// Runs one entity. Every outcome is a report, failures included; only an
    /// [`Interrupted`] checkpoint (tests) ends a run without one.
    pub async fn run(&self, request: &FetchRequest, deadline: Option<Instant>) -> Result<RunReport, Interrupted> {
        let started_at = self.clock.now();
        let clock = Instant::now();
        let run_id = uuid::Uuid::new_v4().to_string();
        let mut report = RunReport::new(run_id.clone(), request.entity_id.clone(), request.dry_run, started_at);
        // Every log line of the run carries the entity and the run.
        let span = tracing::info_span!("run", entity_id = %request.entity_id, run_id = %run_id);
        let result =
            tracing::Instrument::instrument(self.run_inner(request, deadline, &run_id, &mut report), span).await;
        if let Err(error) = result {
            match error {
                RunStop::Interrupted(i) => return Err(i),
                RunStop::Failed(e) => {
                    report.outcome = Outcome::Failed;
                    report.error = Some(e);
                }
            }
        }
        report.finish(self.clock.now(), clock.elapsed());
        Ok(report)
    }

    async fn run_inner(
        &self,
        request: &FetchRequest,
        deadline: Option<Instant>,
        run_id: &str,
        report: &mut RunReport,
    ) -> Result<(), RunStop> {
        let entity = EntityId::parse(&request.entity_id).map_err(|e| fail(Step::Input, e.to_string(), false))?;
        let connection = self
            .connections
            .get(&entity)
            .await
            .map_err(|e| fail(Step::Connection, e.to_string(), e.retryable))?
            .ok_or_else(|| fail(Step::Connection, format!("no connection for entity {entity}"), false))?;
        keys::check_prefix(&connection.verdeelbak_prefix)
            .map_err(|e| fail(Step::Connection, format!("entity {entity}: {e}"), false))?;
        if !connection.enabled {
            return Err(fail(
                Step::Connection,
                format!("the connection of entity {entity} is disabled"),
                false,
            ));
        }
        let state = self
            .snapshots
            .snapshot(&entity)
            .await
            .map_err(|e| fail(Step::State, e.to_string(), e.retryable))?;
        // The last successful run so far, carried from run to run for the metrics.
        let previous: Option<RunReport> = state.last_run.and_then(|v| serde_json::from_value(v).ok());
        report.last_success_at = previous.as_ref().and_then(|p| p.last_success_at);
        let now = self.clock.now();
        if !request.dry_run
            && let Some(lease) = state.lease.as_ref().filter(|l| l.holder != run_id && l.until > now)
        {
            report.already_running(lease);
            return Ok(());
        }
        let lease = LazyLease {
            fetcher: self,
            entity: &entity,
            run_id,
            state: tokio::sync::OnceCell::new(),
        };
        let outcome = self
            .walk(
                entity.clone(),
                connection,
                state.cursors,
                &lease,
                request,
                deadline,
                report,
            )
            .await;
        if matches!(outcome, Err(RunStop::Interrupted(_))) {
            return outcome;
        }
        if let Some(LeaseState::Held(held)) = lease.state.get() {
            // Another run started in the meantime: it carries on, and its status counts.
            report.already_running(held);
            return Ok(());
        }
        if request.dry_run {
            return outcome;
        }
        if lease.acquired()
            && let Err(e) = self.leases.release(&entity, run_id).await
        {
            tracing::warn!(error = %e, "lease not released; it expires by itself");
        }
        let mut last = report.clone();
        if let Err(RunStop::Failed(e)) = &outcome {
            last.outcome = Outcome::Failed;
            last.error = Some(e.clone());
        }
        last.finish(
            self.clock.now(),
            (self.clock.now() - last.started_at).to_std().unwrap_or_default(),
        );
        let due = lease.acquired()
            || previous.as_ref().is_none_or(|p| {
                p.finished_at + self.settings.status_interval <= last.finished_at || !p.same_status(&last)
            });
        if due
            && let Ok(value) = serde_json::to_value(&last)
            && let Err(e) = self.reports.put_last(&entity, &value).await
        {
            tracing::warn!(error = %e, "last-run status not stored");
        }
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    async fn walk(
        &self,
        entity: EntityId,
        connection: Connection,
        cursors: std::collections::BTreeMap<String, Cursor>,
        lease: &LazyLease<'_>,
        request: &FetchRequest,
        deadline: Option<Instant>,
        report: &mut RunReport,
    ) -> Result<(), RunStop> {
        let credentials = credentials::resolve(self.secrets.as_ref(), &connection)
            .await
            .map_err(|e| fail(Step::Secret, format!("entity {entity}: {e}"), e.retryable()))?;
        report.certificate_expires_at = Some(credentials.key.certificate().not_after);
        let session = self.ebox.session(credentials).with_scopes(connection.scopes.clone());
        session
            .access_token()
            .await
            .map_err(|e| fail(Step::Token, format!("entity {entity}: {e}"), e.retryable()))?;
        let discovery = session
            .providers()
            .await
            .map_err(|e| fail(Step::Providers, format!("entity {entity}: {e}"), e.retryable()))?;
        // An entry that could not be read skips that provider only, and says so.
        for skipped in &discovery.skipped {
            report.providers.push(ProviderReport {
                provider_id: skipped.provider_id.clone().unwrap_or_else(|| "(no id)".into()),
                state: "failed".into(),
                error: Some(format!("provider discovery: {}", skipped.reason)),
                ..ProviderReport::default()
            });
        }
        let run = Run {
            fetcher: self,
            entity,
            connection,
            cursors,
            lease,
            session,
            request,
            deadline,
        };
        let now = self.clock.now();
        for provider in discovery.providers.iter() {
            if request
                .providers
                .as_ref()
                .is_some_and(|only| !only.contains(&provider.message_provider_id))
            {
                continue;
            }
            match provider.state(now) {
                ProviderState::Active => {
                    let provider_report = run.provider(provider).await?;
                    report.providers.push(provider_report);
                }
                ProviderState::InMaintenance { until } => report.providers.push(ProviderReport {
                    provider_id: provider.message_provider_id.clone(),
                    state: "maintenance".into(),
                    error: Some(format!("planned maintenance until {}", until.to_rfc3339())),
                    ..ProviderReport::default()
                }),
                ProviderState::NotYetActive | ProviderState::Deactivated => {}
            }
            match lease.state.get() {
                Some(LeaseState::Held(_)) => break,
                Some(LeaseState::Failed(e)) => return Err(RunStop::Failed(e.clone())),
                _ => {}
            }
        }
        Ok(())
    }
}

enum RunStop {
    Failed(RunError),
    Interrupted(Interrupted),
}

impl From<Interrupted> for RunStop {
    fn from(i: Interrupted) -> Self {
        RunStop::Interrupted(i)
    }
}

fn fail(step: Step, message: String, retryable: bool) -> RunStop {
    RunStop::Failed(RunError {
        step,
        message,
        retryable,
    })
}

impl Run<'_> {
    fn out_of_time(&self) -> bool {
        self.deadline
            .is_some_and(|d| d.saturating_duration_since(Instant::now()) < self.fetcher.settings.time_margin)
    }

    async fn provider(&self, provider: &MessageProvider) -> Result<ProviderReport, RunStop> {
        let provider_id = provider.message_provider_id.clone();
        let mut report = ProviderReport {
            provider_id: provider_id.clone(),
            state: "read".into(),
            ..ProviderReport::default()
        };
        let f = self.fetcher;
        let now = f.clock.now();
        let cursor_before = self.cursors.get(&provider_id);
        let cursor_position = cursor_before.map(|c| c.position);
        report.cursor_before = cursor_position;
        // e-Box filters on dates and "after" excludes the day itself: reach back so that
        // the cursor's own day, and the one before, are walked again.
        let received_after = match self.request.since {
            Some(since) => since.pred_opt(),
            None => cursor_position.map(|c| (c - f.settings.overlap).date_naive()),
        };
        let recent = cursor_before.map(|c| &c.recent);
        // One pipeline from the listing to the deliveries: pages are listed and checked
        // against the ledger while earlier messages are still being delivered, and the
        // deliveries never drain between pages.
        let dry_run = self.request.dry_run;
        let checked = self
            .session
            .messages(provider, received_after)
            .try_chunks(ebox::PAGE_SIZE)
            .then(|page| async move { self.check_page(provider, recent, page).await })
            .flat_map(futures::stream::iter)
            // Nothing after a stop: the listing or the ledger failed.
            .scan(false, |stopped, seen| {
                let item = (!*stopped).then(|| {
                    *stopped = matches!(seen, Seen::Stop(_));
                    seen
                });
                std::future::ready(item)
            });
        let mut done = std::pin::pin!(
            checked
                .map(|seen| async move {
                    Ok::<_, Interrupted>(match seen {
                        Seen::Known(id, receipt) => Done::Known(id, receipt),
                        Seen::Stop(reason) => Done::Stopped(reason),
                        Seen::Unreadable(item) => {
                            let kept = self.keep_unreadable(provider, &item).await;
                            Done::Unreadable(item, kept)
                        }
                        Seen::Fresh(m) if dry_run => Done::Planned(self.planned_keys(provider, &m)),
                        // No new message is started when time is short.
                        Seen::Fresh(_) if self.out_of_time() => Done::NotStarted,
                        Seen::Fresh(m) => match self.lease.take().await {
                            LeaseState::Acquired => {
                                let result = self.deliver(provider, &m).await?;
                                Done::Delivered(m, result)
                            }
                            LeaseState::Held(_) | LeaseState::Failed(_) => Done::NoLease,
                        },
                    })
                })
                .buffer_unordered(f.settings.concurrency.max(1))
        );
        let mut newest_seen: Option<DateTime<Utc>> = None;
        let mut oldest_failed: Option<DateTime<Utc>> = None;
        // The cursor stays where it is: something it must not pass has no place in time.
        let mut hold = false;
        let mut complete = true;
        // Every listed message known to be delivered, for the cursor to remember.
        let mut delivered = Vec::new();
        let mut unreadable = std::collections::BTreeMap::new();
        let mut seen = |id: &str, receipt: Option<DateTime<Utc>>| {
            if let Some(receipt) = receipt {
                newest_seen = Some(newest_seen.map_or(receipt, |n| n.max(receipt)));
                delivered.push((id.to_owned(), receipt));
            }
        };
        while let Some(item) = done.next().await {
            match item? {
                Done::Known(id, receipt) => {
                    report.listed += 1;
                    report.already_delivered += 1;
                    seen(&id, receipt);
                }
                Done::NoLease | Done::NotStarted => {
                    report.listed += 1;
                    report.new += 1;
                    complete = false;
                }
                Done::Planned(keys) => {
                    report.listed += 1;
                    report.new += 1;
                    report.would_write.extend(keys);
                }
                Done::Stopped(reason) => {
                    report.error = Some(reason);
                    complete = false;
                }
                Done::Unreadable(item, kept) => {
                    report.listed += 1;
                    let (_, sha) = item.stored_bytes();
                    // To the millisecond, as the cursor keeps it.
                    let first_seen = cursor_before
                        .and_then(|c| c.unreadable.get(&sha).copied())
                        .unwrap_or_else(|| chrono::SubsecRound::trunc_subsecs(now, 3));
                    let held_until = first_seen + f.settings.unreadable_hold;
                    // Until the hold is over the cursor waits for it, so that each walk
                    // looks at it again; then it moves on, and the raw copy stays.
                    hold |= held_until > now || kept.is_err();
                    tracing::warn!(
                        message_id = ?item.message_id,
                        reason = %item.reason,
                        "a list item is not a readable message; kept raw"
                    );
                    report.unreadable.push(UnreadableReport {
                        message_id: item.message_id.clone(),
                        reason: item.reason.clone(),
                        key: kept.as_ref().ok().cloned(),
                        error: kept.as_ref().err().map(|f| f.error.clone()),
                        first_seen,
                        held_until,
                    });
                    unreadable.insert(sha, first_seen);
                }
                Done::Delivered(m, result) => {
                    report.listed += 1;
                    report.new += 1;
                    let receipt = m.message.receipt_date;
                    match result {
                        Ok(Delivered::New { bytes }) => {
                            report.delivered += 1;
                            report.bytes += bytes;
                            seen(&m.message.message_id, receipt);
                        }
                        Ok(Delivered::AlreadyRecorded) => {
                            report.already_delivered += 1;
                            seen(&m.message.message_id, receipt);
                        }
                        Err(failure) => {
                            tracing::warn!(
                                message_id = %m.message.message_id,
                                step = %failure.step,
                                error = %failure.error,
                                "message not delivered; the next run tries again"
                            );
                            match receipt {
                                Some(r) => oldest_failed = Some(oldest_failed.map_or(r, |o| o.min(r))),
                                None => hold = true,
                            }
                            report.failed.push(MessageFailure {
                                message_id: m.message.message_id.clone(),
                                step: failure.step,
                                reason: failure.error,
                                retryable: failure.retryable,
                                expires_at: m.message.expiration_date,
                            });
                        }
                    }
                }
            }
        }
        report.walk_complete = complete;
        report.cursor_after = cursor_position;
        if complete && !self.request.dry_run {
            f.checkpoints.reached(&Checkpoint::BeforeCursor {
                provider_id: provider_id.clone(),
            })?;
            // Never past a message that was not delivered.
            let target = if hold {
                Some(cursor_position.unwrap_or(DateTime::UNIX_EPOCH))
            } else {
                match oldest_failed {
                    Some(failed) => Some(newest_seen.map_or(failed, |n| n.min(failed))),
                    None => newest_seen,
                }
            };
            let next = next_cursor(cursor_before, target, delivered, unreadable, f.settings.overlap);
            // Nothing new for the cursor: no write.
            if let Some(next) = next.filter(|n| Some(n) != cursor_before) {
                match self.lease.take().await {
                    LeaseState::Acquired => match f.cursors.advance(&self.entity, &provider_id, &next).await {
                        Ok(CursorOutcome::Advanced) => report.cursor_after = Some(next.position),
                        Ok(CursorOutcome::WouldMoveBackwards { current }) => report.cursor_after = Some(current),
                        Err(e) => report.error = Some(format!("cursor: {e}")),
                    },
                    LeaseState::Held(_) => report.walk_complete = false,
                    LeaseState::Failed(e) => report.error = Some(format!("cursor: {}", e.message)),
                }
            }
        }
        Ok(report)
    }

    /// Sorts one listed page into what the ledger knows, what is new and what is not a
    /// readable message; a listing that failed after this page, or a ledger that cannot
    /// answer, ends the walk.
    async fn check_page(
        &self,
        provider: &MessageProvider,
        recent: Option<&std::collections::BTreeMap<String, DateTime<Utc>>>,
        page: Result<Vec<Listed>, futures::stream::TryChunksError<Listed, EboxError>>,
    ) -> Vec<Seen> {
        let (page, listing_error) = match page {
            Ok(page) => (page, None),
            Err(e) => (e.0, Some(format!("listing: {}", e.1))),
        };
        let remembered = |id: &String| recent.is_some_and(|r| r.contains_key(id));
        // The cursor remembers what the previous walks delivered; only the rest is asked
        // of the ledger.
        let ids: Vec<String> = page
            .iter()
            .filter_map(|item| match item {
                Listed::Message(m) => Some(&m.message.message_id),
                Listed::Unreadable(_) => None,
            })
            .filter(|id| !remembered(id))
            .cloned()
            .collect();
        let delivered = if ids.is_empty() {
            Default::default()
        } else {
            match self
                .fetcher
                .ledger
                .delivered_among(&self.entity, &provider.message_provider_id, &ids)
                .await
            {
                Ok(d) => d,
                // Without the ledger nothing can be known to be new.
                Err(e) => return vec![Seen::Stop(format!("ledger: {e}"))],
            }
        };
        let mut seen: Vec<Seen> = page
            .into_iter()
            .map(|item| match item {
                Listed::Unreadable(u) => Seen::Unreadable(Box::new(u)),
                Listed::Message(m) => {
                    let id = &m.message.message_id;
                    if remembered(id) || delivered.contains(id) {
                        Seen::Known(id.clone(), m.message.receipt_date)
                    } else {
                        Seen::Fresh(m)
                    }
                }
            })
            .collect();
        seen.extend(listing_error.map(Seen::Stop));
        seen
    }

    /// Keeps an unreadable list item's JSON under the entity's prefix, once; its key.
    async fn keep_unreadable(&self, provider: &MessageProvider, item: &UnreadableItem) -> Result<String, Failure> {
        let (bytes, sha) = item.stored_bytes();
        let key = keys::unreadable_key(&self.connection.verdeelbak_prefix, &provider.message_provider_id, &sha);
        if self.request.dry_run {
            return Ok(key);
        }
        match self.lease.take().await {
            LeaseState::Acquired => {}
            LeaseState::Held(_) | LeaseState::Failed(_) => {
                return Err(Failure {
                    step: Step::Store,
                    error: "another run holds the entity".into(),
                    retryable: true,
                });
            }
        }
        self.fetcher
            .objects
            .put(put_json(&key, bytes, true))
            .await
            .map_err(Failure::store)?;
        Ok(key)
    }

    fn planned_keys(&self, provider: &MessageProvider, m: &ListedMessage) -> Vec<String> {
        let folder = keys::message_folder(
            &self.connection.verdeelbak_prefix,
            &provider.message_provider_id,
            &m.message.message_id,
        );
        let mut planned: Vec<String> = m
            .message
            .attachments()
            .iter()
            .map(|a| keys::attachment_key(&folder, &a.attachment_id, a.name()))
            .collect();
        if m.message.may_have_body() {
            planned.push(keys::body_key(&folder));
        }
        planned.push(keys::message_json_key(&folder));
        planned
    }

    /// The names behind the message's ids, where the message does not carry them.
    async fn names(&self, provider: &MessageProvider, m: &ebox::model::Message) -> message_json::Names {
        let lookup = |kind: ReferenceKind, named: &ebox::model::Named| {
            let id = named.id.clone().filter(|_| named.name.is_none());
            async move {
                match id {
                    Some(id) => self.session.reference_name(provider, kind, &id).await,
                    None => None,
                }
            }
        };
        let (message_type, sender_organization, sender_application) = futures::join!(
            lookup(ReferenceKind::MessageType, &m.message_type),
            lookup(ReferenceKind::SenderOrganization, &m.sender_organization),
            lookup(ReferenceKind::SenderApplication, &m.sender_application),
        );
        message_json::Names {
            message_type,
            sender_organization,
            sender_application,
        }
    }

    async fn deliver(&self, provider: &MessageProvider, listed: &ListedMessage) -> Attempt {
        let f = self.fetcher;
        let m = &listed.message;
        let folder = keys::message_folder(
            &self.connection.verdeelbak_prefix,
            &provider.message_provider_id,
            &m.message_id,
        );
        let mut bytes = 0u64;
        let mut stored = Vec::new();
        for attachment in m.attachments() {
            match self
                .store_attachment(provider, &m.message_id, attachment, &folder)
                .await
            {
                Ok(a) => {
                    bytes += a.size_bytes;
                    stored.push(a);
                }
                Err(failure) => return Ok(Err(failure)),
            }
        }
        // Every body, main content or annex: only the body call says whether there is one.
        let body_key = keys::body_key(&folder);
        let body = if m.may_have_body() {
            match self.session.body(provider, &m.message_id).await {
                Ok(Some(body)) => {
                    bytes += body.raw.len() as u64;
                    let put = PutObject {
                        key: body_key.clone(),
                        sha256: sha256_of(&body.raw),
                        body: ObjectBody::Bytes(body.raw.clone()),
                        content_type: "application/json".into(),
                        if_absent: false,
                    };
                    if let Err(e) = f.objects.put(put).await {
                        return Ok(Err(Failure::store(e)));
                    }
                    Some(body.text)
                }
                Ok(None) => None,
                Err(e) => return Ok(Err(Failure::ebox(Step::Body, e))),
            }
        } else {
            None
        };
        f.checkpoints.reached(&Checkpoint::AttachmentsStored {
            message_id: m.message_id.clone(),
        })?;
        let names = self.names(provider, m).await;
        let json = message_json::build(
            &self.entity,
            &provider.message_provider_id,
            provider.api_version,
            listed,
            &names,
            body.as_ref()
                .map(|text| message_json::StoredBody { text, key: &body_key }),
            &stored,
        );
        let json_sha = hex(&sha256_of(&json));
        bytes += json.len() as u64;
        let key = keys::message_json_key(&folder);
        // Created once: a rerun after a crash finds it and goes on to the ledger.
        if let Err(e) = f.objects.put(put_json(&key, json, true)).await {
            return Ok(Err(Failure::store(e)));
        }
        f.checkpoints.reached(&Checkpoint::MessageJsonStored {
            message_id: m.message_id.clone(),
        })?;
        let entry = LedgerEntry {
            provider_id: provider.message_provider_id.clone(),
            message_id: m.message_id.clone(),
            delivered_at: f.clock.now(),
            message_key: key,
            message_sha256: json_sha,
            expires_at: m.expiration_date,
        };
        let recorded = match f.ledger.record(&self.entity, &entry).await {
            Ok(Insert::Inserted) => Delivered::New { bytes },
            Ok(Insert::AlreadyExists) => Delivered::AlreadyRecorded,
            Err(e) => {
                return Ok(Err(Failure {
                    step: Step::Ledger,
                    retryable: e.retryable,
                    error: e.to_string(),
                }));
            }
        };
        f.checkpoints.reached(&Checkpoint::LedgerRecorded {
            message_id: m.message_id.clone(),
        })?;
        Ok(Ok(recorded))
    }

    async fn store_attachment(
        &self,
        provider: &MessageProvider,
        message_id: &str,
        attachment: &Attachment,
        folder: &str,
    ) -> Result<StoredAttachment, Failure> {
        let key = keys::attachment_key(folder, &attachment.attachment_id, attachment.name());
        let download = self
            .session
            .attachment(provider, message_id, attachment)
            .await
            .map_err(|e| Failure::ebox(Step::Attachment, e))?;
        let content_type = attachment
            .media_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        let stored = |size: u64, sha: Sha256, verified: bool| StoredAttachment {
            attachment_id: attachment.attachment_id.clone(),
            attachment_id_assigned: attachment.id_assigned,
            file_name: attachment.file_name.clone(),
            key: key.clone(),
            media_type: attachment.media_type.clone(),
            size_bytes: size,
            declared_size_kb: attachment.size_kb,
            sha256: hex(&sha),
            main_content: attachment.main_content,
            digest_verified: verified,
        };
        let problem = Arc::new(std::sync::Mutex::new(None::<EboxError>));
        match (download.expected_sha256, download.content_length) {
            // The digest and the length are known up front: stream straight through.
            (Some(sha), Some(length)) => {
                let seen = problem.clone();
                let chunks = download
                    .chunks
                    .map_err(move |e| {
                        let message = e.to_string();
                        *seen.lock().unwrap() = Some(e);
                        std::io::Error::other(message)
                    })
                    .boxed();
                let put = PutObject {
                    key: key.clone(),
                    body: ObjectBody::Stream { length, chunks },
                    sha256: sha,
                    content_type: content_type.clone(),
                    if_absent: false,
                };
                match self.fetcher.objects.put(put).await {
                    Ok(_) => Ok(stored(length, sha, true)),
                    Err(e) => match problem.lock().unwrap().take() {
                        Some(ebox_error) => Err(Failure::ebox(Step::Attachment, ebox_error)),
                        None => Err(Failure::store(e)),
                    },
                }
            }
            // Otherwise hash it on local disk first, then upload with its checksum.
            _ => {
                let verified = download.expected_sha256.is_some();
                let spool = Spool::new(&self.fetcher.settings.spool_dir);
                let (length, sha) = spool.fill(download.chunks).await.map_err(|e| match e {
                    SpoolError::Ebox(e) => Failure::ebox(Step::Attachment, e),
                    SpoolError::Io(e) => Failure {
                        step: Step::Attachment,
                        error: format!("spooling to {}: {e}", self.fetcher.settings.spool_dir.display()),
                        retryable: true,
                    },
                })?;
                let file = tokio::fs::File::open(&spool.path).await.map_err(|e| Failure {
                    step: Step::Attachment,
                    error: format!("reading the spooled attachment: {e}"),
                    retryable: true,
                })?;
                let chunks = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024).boxed();
                let put = PutObject {
                    key: key.clone(),
                    body: ObjectBody::Stream { length, chunks },
                    sha256: sha,
                    content_type: content_type.clone(),
                    if_absent: false,
                };
                self.fetcher.objects.put(put).await.map_err(Failure::store)?;
                Ok(stored(length, sha, verified))
            }
        }
    }
}

/// The cursor after a complete walk: at `target` but never back, remembering the
/// delivered messages that the next walk lists again (received after the day the next
/// walk starts from), the newest [`RECENT_LIMIT`] of them, and the unreadable items this
/// walk saw. `None` when there is nothing to remember.
fn next_cursor(
    before: Option<&Cursor>,
    target: Option<DateTime<Utc>>,
    delivered: Vec<(String, DateTime<Utc>)>,
    unreadable: std::collections::BTreeMap<String, DateTime<Utc>>,
    overlap: chrono::Duration,
) -> Option<Cursor> {
    let position = match (before.map(|c| c.position), target) {
        (Some(b), Some(t)) => b.max(t),
        (b, t) => b.or(t)?,
    };
    let listed_after = (position - overlap).date_naive();
    let mut recent: Vec<(String, DateTime<Utc>)> = before
        .into_iter()
        .flat_map(|c| c.recent.iter().map(|(id, at)| (id.clone(), *at)))
        .chain(delivered)
        .filter(|(_, at)| at.date_naive() > listed_after)
        .collect();
    // Newest first; a message seen twice is kept once.
    recent.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut kept = std::collections::BTreeMap::new();
    for (id, at) in recent {
        if kept.len() == RECENT_LIMIT {
            break;
        }
        kept.entry(id).or_insert(at);
    }
    Some(Cursor {
        position,
        recent: kept,
        unreadable,
    })
}

fn put_json(key: &str, json: Vec<u8>, if_absent: bool) -> PutObject {
    PutObject {
        key: key.to_owned(),
        sha256: sha256_of(&json),
        body: ObjectBody::Bytes(Bytes::from(json)),
        content_type: "application/json".into(),
        if_absent,
    }
}

/// A temporary file, removed when dropped.
struct Spool {
    path: PathBuf,
}

enum SpoolError {
    Ebox(EboxError),
    Io(std::io::Error),
}

impl Spool {
    fn new(dir: &std::path::Path) -> Self {
        Self {
            path: dir.join(format!("digipost-ebox-{}.part", uuid::Uuid::new_v4().simple())),
        }
    }

    async fn fill(
        &self,
        mut chunks: futures::stream::BoxStream<'static, Result<Bytes, EboxError>>,
    ) -> Result<(u64, Sha256), SpoolError> {
        use sha2::Digest;
        let mut file = tokio::fs::File::create(&self.path).await.map_err(SpoolError::Io)?;
        let mut hasher = sha2::Sha256::new();
        let mut length = 0u64;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(SpoolError::Ebox)?;
            hasher.update(&chunk);
            length += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(SpoolError::Io)?;
        }
        file.flush().await.map_err(SpoolError::Io)?;
        Ok((length, hasher.finalize().into()))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).unwrap()
    }

    fn cursor(position: DateTime<Utc>, recent: &[(&str, DateTime<Utc>)]) -> Cursor {
        Cursor {
            position,
            recent: recent.iter().map(|(id, t)| ((*id).to_owned(), *t)).collect(),
            unreadable: Default::default(),
        }
    }

    fn delivered(list: &[(&str, DateTime<Utc>)]) -> Vec<(String, DateTime<Utc>)> {
        list.iter().map(|(id, t)| ((*id).to_owned(), *t)).collect()
    }

    const OVERLAP: chrono::Duration = chrono::Duration::days(2);

    #[test]
    fn a_cursor_remembers_what_the_next_walk_lists_again() {
        // The next walk starts after 8 March (10 March minus two days): a message of the
        // 8th is not listed again, one of the 9th is.
        let next = next_cursor(
            None,
            Some(at(10, 12)),
            delivered(&[("old", at(8, 23)), ("m9", at(9, 1)), ("m10", at(10, 12))]),
            Default::default(),
            OVERLAP,
        );
        assert_eq!(next, Some(cursor(at(10, 12), &[("m9", at(9, 1)), ("m10", at(10, 12))])));
    }

    #[test]
    fn a_cursor_never_moves_back_and_forgets_what_falls_out_of_the_window() {
        let before = cursor(at(10, 12), &[("m9", at(9, 1)), ("m10", at(10, 12))]);
        // An older target (a failed message) leaves the position where it is.
        let same = next_cursor(
            Some(&before),
            Some(at(9, 0)),
            delivered(&[("m9", at(9, 1))]),
            Default::default(),
            OVERLAP,
        );
        assert_eq!(
            same.as_ref(),
            Some(&before),
            "nothing new: the same cursor, so no write"
        );
        let moved = next_cursor(
            Some(&before),
            Some(at(12, 8)),
            delivered(&[("m12", at(12, 8))]),
            Default::default(),
            OVERLAP,
        );
        assert_eq!(
            moved,
            Some(cursor(at(12, 8), &[("m12", at(12, 8))])),
            "the walk after 10 March no longer lists the 9th or the 10th"
        );
        assert_eq!(next_cursor(None, None, Vec::new(), Default::default(), OVERLAP), None);
    }

    #[test]
    fn a_cursor_keeps_the_newest_messages_up_to_its_limit() {
        let many: Vec<(String, DateTime<Utc>)> = (0..RECENT_LIMIT as i64 + 10)
            .map(|n| (format!("m{n:05}"), at(10, 0) + chrono::Duration::seconds(n)))
            .collect();
        let newest = many.last().unwrap().1;
        let next = next_cursor(None, Some(newest), many, Default::default(), OVERLAP).unwrap();
        assert_eq!(next.recent.len(), RECENT_LIMIT);
        assert!(!next.recent.contains_key("m00009"), "the oldest are left to the ledger");
        assert!(next.recent.contains_key("m00010"));
    }

    #[test]
    fn a_status_is_the_same_when_only_counts_and_times_differ() {
        let report = |outcome, provider_error: Option<&str>| RunReport {
            outcome,
            duration_ms: 3,
            certificate_expires_at: Some(at(1, 0)),
            providers: vec![ProviderReport {
                provider_id: "p1".into(),
                state: "read".into(),
                listed: 12,
                walk_complete: true,
                cursor_after: Some(at(10, 0)),
                error: provider_error.map(str::to_owned),
                ..ProviderReport::default()
            }],
            ..RunReport::new(uuid::Uuid::new_v4().to_string(), "0403170701".into(), false, Utc::now())
        };
        let ok = report(Outcome::Ok, None);
        let mut later = report(Outcome::Ok, None);
        later.providers[0].listed = 13;
        assert!(ok.same_status(&later));
        assert!(!ok.same_status(&report(Outcome::Partial, None)));
        assert!(!ok.same_status(&report(Outcome::Ok, Some("listing: 503"))));
        let mut moved = report(Outcome::Ok, None);
        moved.providers[0].cursor_after = Some(at(11, 0));
        assert!(!ok.same_status(&moved));
    }
}
