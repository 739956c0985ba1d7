//! The fetch use case: deliver one entity's e-Box into its verdeelbak, exactly once.
//!
//! Steps: check the entity id; load the connection; take the entity's lease; resolve the
//! key material; get a token; list the providers; walk each active provider from its
//! cursor (overlapping the previous walk, as e-Box filters on dates); deliver each message
//! the ledger does not know (attachments and body first, `message.json` last, then the
//! ledger row); advance the cursor after a complete walk, never past an undelivered
//! message; release the lease; write the report.

pub mod credentials;
pub mod keys;
pub mod message_json;
mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use ebox::model::{Attachment, ListedMessage, MessageProvider, ProviderState, ReferenceNames};
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
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self {
            concurrency: 8,
            lease_duration: chrono::Duration::minutes(16),
            time_margin: Duration::from_secs(30),
            overlap: chrono::Duration::days(2),
            spool_dir: std::env::temp_dir(),
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
    session: Session,
    request: &'a FetchRequest,
    deadline: Option<Instant>,
}

/// A delivery: done, failed (the run goes on), or cut off at a checkpoint.
type Attempt = Result<Result<Delivered, Failure>, Interrupted>;

/// A listed message, as the ledger sees it.
enum Seen {
    Known(DateTime<Utc>),
    Fresh(Box<ListedMessage>),
    Stop(String),
}

/// What became of it.
enum Done {
    Known(DateTime<Utc>),
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
        let mut report = RunReport {
            schema: REPORT_SCHEMA.into(),
            run_id: run_id.clone(),
            entity_id: request.entity_id.clone(),
            outcome: Outcome::Ok,
            dry_run: request.dry_run,
            started_at,
            finished_at: started_at,
            duration_ms: 0,
            delivered: 0,
            failed: 0,
            bytes: 0,
            error: None,
            held_by: None,
            last_success_at: None,
            certificate_expires_at: None,
            providers: Vec::new(),
        };
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
        if !connection.enabled {
            return Err(fail(
                Step::Connection,
                format!("the connection of entity {entity} is disabled"),
                false,
            ));
        }
        if !request.dry_run {
            let now = self.clock.now();
            match self
                .leases
                .acquire(&entity, run_id, now + self.settings.lease_duration, now)
                .await
                .map_err(|e| fail(Step::Lease, e.to_string(), e.retryable))?
            {
                LeaseOutcome::Acquired => {}
                LeaseOutcome::HeldBy { holder, until } => {
                    report.outcome = Outcome::AlreadyRunning;
                    report.held_by = Some(format!("run {holder} until {}", until.to_rfc3339()));
                    return Ok(());
                }
            }
        }
        // The last successful run so far, carried from run to run for the metrics.
        if let Ok(Some(previous)) = self.reports.get_last(&entity).await {
            report.last_success_at = previous
                .get("last_success_at")
                .and_then(|v| serde_json::from_value::<Option<DateTime<Utc>>>(v.clone()).ok())
                .flatten();
        }
        let outcome = self
            .with_lease(entity.clone(), connection, request, deadline, report)
            .await;
        if !request.dry_run && !matches!(outcome, Err(RunStop::Interrupted(_))) {
            if let Err(e) = self.leases.release(&entity, run_id).await {
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
            if let Ok(value) = serde_json::to_value(&last)
                && let Err(e) = self.reports.put_last(&entity, &value).await
            {
                tracing::warn!(error = %e, "last-run status not stored");
            }
        }
        outcome
    }

    async fn with_lease(
        &self,
        entity: EntityId,
        connection: Connection,
        request: &FetchRequest,
        deadline: Option<Instant>,
        report: &mut RunReport,
    ) -> Result<(), RunStop> {
        let credentials = credentials::resolve(self.secrets.as_ref(), &connection)
            .await
            .map_err(|e| fail(Step::Secret, format!("entity {entity}: {e}"), e.retryable()))?;
        report.certificate_expires_at = Some(credentials.key.certificate().not_after);
        let session = self.ebox.session(credentials);
        session
            .access_token()
            .await
            .map_err(|e| fail(Step::Token, format!("entity {entity}: {e}"), e.retryable()))?;
        let providers = session
            .providers()
            .await
            .map_err(|e| fail(Step::Providers, format!("entity {entity}: {e}"), e.retryable()))?;
        let run = Run {
            fetcher: self,
            entity,
            connection,
            session,
            request,
            deadline,
        };
        let now = self.clock.now();
        for provider in providers.iter() {
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
        let cursor_before = match f.cursors.get(&self.entity, &provider_id).await {
            Ok(c) => c,
            Err(e) => {
                report.state = "failed".into();
                report.error = Some(format!("cursor: {e}"));
                return Ok(report);
            }
        };
        report.cursor_before = cursor_before;
        // e-Box filters on dates and "after" excludes the day itself: reach back so that
        // the cursor's own day, and the one before, are walked again.
        let received_after = match self.request.since {
            Some(since) => since.pred_opt(),
            None => cursor_before.map(|c| (c - f.settings.overlap).date_naive()),
        };
        let names = match self.session.reference_names(provider).await {
            Ok(n) => n,
            Err(e) => {
                report.state = "failed".into();
                report.error = Some(format!("reference data: {e}"));
                return Ok(report);
            }
        };
        // One pipeline from the listing to the deliveries: pages are listed and checked
        // against the ledger while earlier messages are still being delivered, and the
        // deliveries never drain between pages.
        let dry_run = self.request.dry_run;
        let names = &names;
        let checked = self
            .session
            .messages(provider, received_after)
            .try_chunks(ebox::PAGE_SIZE)
            .then(|page| async move { self.check_page(provider, page).await })
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
                        Seen::Known(receipt) => Done::Known(receipt),
                        Seen::Stop(reason) => Done::Stopped(reason),
                        Seen::Fresh(m) if dry_run => Done::Planned(self.planned_keys(provider, &m)),
                        // No new message is started when time is short.
                        Seen::Fresh(_) if self.out_of_time() => Done::NotStarted,
                        Seen::Fresh(m) => {
                            let result = self.deliver(provider, names, &m).await?;
                            Done::Delivered(m, result)
                        }
                    })
                })
                .buffer_unordered(f.settings.concurrency.max(1))
        );
        let mut newest_seen: Option<DateTime<Utc>> = None;
        let mut oldest_failed: Option<DateTime<Utc>> = None;
        let mut complete = true;
        let mut seen = |receipt: DateTime<Utc>| newest_seen = Some(newest_seen.map_or(receipt, |n| n.max(receipt)));
        while let Some(item) = done.next().await {
            match item? {
                Done::Known(receipt) => {
                    report.listed += 1;
                    report.already_delivered += 1;
                    seen(receipt);
                }
                Done::Planned(keys) => {
                    report.listed += 1;
                    report.new += 1;
                    report.would_write.extend(keys);
                }
                Done::NotStarted => {
                    report.listed += 1;
                    report.new += 1;
                    complete = false;
                }
                Done::Stopped(reason) => {
                    report.error = Some(reason);
                    complete = false;
                }
                Done::Delivered(m, result) => {
                    report.listed += 1;
                    report.new += 1;
                    let receipt = m.message.receipt_date;
                    match result {
                        Ok(Delivered::New { bytes }) => {
                            report.delivered += 1;
                            report.bytes += bytes;
                            seen(receipt);
                        }
                        Ok(Delivered::AlreadyRecorded) => {
                            report.already_delivered += 1;
                            seen(receipt);
                        }
                        Err(failure) => {
                            tracing::warn!(
                                message_id = %m.message.message_id,
                                step = %failure.step,
                                error = %failure.error,
                                "message not delivered; the next run tries again"
                            );
                            oldest_failed = Some(oldest_failed.map_or(receipt, |o| o.min(receipt)));
                            report.failed.push(MessageFailure {
                                message_id: m.message.message_id.clone(),
                                step: failure.step,
                                reason: failure.error,
                                retryable: failure.retryable,
                                expires_at: Some(m.message.expiration_date),
                            });
                        }
                    }
                }
            }
        }
        report.walk_complete = complete;
        report.cursor_after = cursor_before;
        if complete && !self.request.dry_run {
            f.checkpoints.reached(&Checkpoint::BeforeCursor {
                provider_id: provider_id.clone(),
            })?;
            // Never past a message that was not delivered.
            let target = match oldest_failed {
                Some(failed) => Some(newest_seen.map_or(failed, |n| n.min(failed))),
                None => newest_seen,
            };
            // Nothing newer than the stored cursor: no write.
            if let Some(target) = target.filter(|t| cursor_before.is_none_or(|c| *t > c)) {
                match f.cursors.advance(&self.entity, &provider_id, target).await {
                    Ok(CursorOutcome::Advanced) => report.cursor_after = Some(target),
                    Ok(CursorOutcome::WouldMoveBackwards { current }) => report.cursor_after = Some(current),
                    Err(e) => report.error = Some(format!("cursor: {e}")),
                }
            }
        }
        Ok(report)
    }

    /// Sorts one listed page into what the ledger knows and what is new; a listing that
    /// failed after this page, or a ledger that cannot answer, ends the walk.
    async fn check_page(
        &self,
        provider: &MessageProvider,
        page: Result<Vec<ListedMessage>, futures::stream::TryChunksError<ListedMessage, EboxError>>,
    ) -> Vec<Seen> {
        let (page, listing_error) = match page {
            Ok(page) => (page, None),
            Err(e) => (e.0, Some(format!("listing: {}", e.1))),
        };
        let ids: Vec<String> = page.iter().map(|m| m.message.message_id.clone()).collect();
        let delivered = match self
            .fetcher
            .ledger
            .delivered_among(&self.entity, &provider.message_provider_id, &ids)
            .await
        {
            Ok(d) => d,
            // Without the ledger nothing can be known to be new.
            Err(e) => return vec![Seen::Stop(format!("ledger: {e}"))],
        };
        let mut seen: Vec<Seen> = page
            .into_iter()
            .map(|m| {
                if delivered.contains(&m.message.message_id) {
                    Seen::Known(m.message.receipt_date)
                } else {
                    Seen::Fresh(Box::new(m))
                }
            })
            .collect();
        seen.extend(listing_error.map(Seen::Stop));
        seen
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
            .map(|a| keys::attachment_key(&folder, &a.attachment_id, &a.file_name))
            .collect();
        if wants_body(m) {
            planned.push(keys::body_key(&folder));
        }
        planned.push(keys::message_json_key(&folder));
        planned
    }

    async fn deliver(&self, provider: &MessageProvider, names: &ReferenceNames, listed: &ListedMessage) -> Attempt {
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
        let body = if wants_body(listed) {
            match self.session.body(provider, &m.message_id).await {
                Ok(body) => {
                    let key = keys::body_key(&folder);
                    let mut json = serde_json::to_vec_pretty(&body).expect("JSON values serialise");
                    json.push(b'\n');
                    bytes += json.len() as u64;
                    if let Err(e) = f.objects.put(put_json(&key, json, false)).await {
                        return Ok(Err(Failure::store(e)));
                    }
                    Some((body, key))
                }
                Err(EboxError::NotFound { .. }) => None,
                Err(e) => return Ok(Err(Failure::ebox(Step::Body, e))),
            }
        } else {
            None
        };
        f.checkpoints.reached(&Checkpoint::AttachmentsStored {
            message_id: m.message_id.clone(),
        })?;
        let json = message_json::build(
            &self.entity,
            &provider.message_provider_id,
            listed,
            names,
            body.as_ref().map(|(b, k)| (b, k.as_str())),
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
            expires_at: Some(m.expiration_date),
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
        let key = keys::attachment_key(folder, &attachment.attachment_id, &attachment.file_name);
        let download = self
            .session
            .attachment(provider, message_id, attachment)
            .await
            .map_err(|e| Failure::ebox(Step::Attachment, e))?;
        let stored = |size: u64, sha: Sha256, verified: bool| StoredAttachment {
            attachment_id: attachment.attachment_id.clone(),
            file_name: attachment.file_name.clone(),
            key: key.clone(),
            media_type: attachment.media_type.clone(),
            size_bytes: size,
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
                    content_type: attachment.media_type.clone(),
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
                    content_type: attachment.media_type.clone(),
                    if_absent: false,
                };
                self.fetcher.objects.put(put).await.map_err(Failure::store)?;
                Ok(stored(length, sha, verified))
            }
        }
    }
}

/// A body is fetched when it is the main content, or when there is nothing else.
fn wants_body(m: &ListedMessage) -> bool {
    m.message.body_main_content || m.message.attachments().is_empty()
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
