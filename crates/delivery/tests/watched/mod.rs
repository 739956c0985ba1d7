//! The state and object ports of a backend, wrapped: each call is counted, so a test can
//! see what a run asked of them whichever backend it runs on, and a run can be cut off at
//! any call, as if its process died there.
//!
//! A cut call never answers; the test drops the run's future once the cut is reached
//! ([`Watched::cut_run`]). Nothing of the run after that point happens: no lease
//! release, no cursor, no status, as after a SIGKILL.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use delivery::EntityId;
use delivery::fetch::{FetchRequest, Fetcher};
use delivery::ports::*;

/// Where a run is cut: before the named call is made, or after it took effect but
/// before its answer reaches the run. Names are those [`Watched::take`] counts; an object
/// put is `"put <file name>"` (`put message.json`, `put body.json`, `put attachment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    Before(&'static str),
    After(&'static str),
}

pub struct Watched {
    pub b: delivery::stores::Stores,
    pub objects: Arc<dyn ObjectStore>,
    calls: Mutex<BTreeMap<&'static str, u32>>,
    /// The key of every object put and ledger row, in the order they were asked for.
    writes: Mutex<Vec<String>>,
    cut: Mutex<Option<Cut>>,
    /// The key the last cut was made at, if its call had one.
    cut_key: Mutex<Option<String>>,
    reached: tokio::sync::Notify,
}

impl Watched {
    pub fn new(b: delivery::stores::Stores, objects: Arc<dyn ObjectStore>) -> Arc<Self> {
        Arc::new(Self {
            b,
            objects,
            calls: Mutex::default(),
            writes: Mutex::default(),
            cut: Mutex::default(),
            cut_key: Mutex::default(),
            reached: tokio::sync::Notify::new(),
        })
    }

    fn count(&self, call: &'static str) {
        *self.calls.lock().unwrap().entry(call).or_default() += 1;
    }

    /// The calls counted since the last take.
    pub fn take(&self) -> BTreeMap<&'static str, u32> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    /// The keys written so far (object puts and ledger rows' `message.json` keys).
    pub fn writes(&self) -> Vec<String> {
        self.writes.lock().unwrap().clone()
    }

    /// Checks the order of every write so far: nothing is written into a message folder
    /// after that folder's `message.json`, but its ledger row.
    pub fn assert_nothing_after_message_json(&self) {
        let writes = self.writes();
        let mut complete = HashSet::new();
        for key in &writes {
            let (folder, file) = key.rsplit_once('/').unwrap_or(("", key));
            assert!(
                file == "(ledger row)" || !complete.contains(folder),
                "{key} written after {folder}/message.json: {writes:#?}"
            );
            if file == "message.json" {
                complete.insert(folder.to_owned());
            }
        }
    }

    /// Never returns when `at` is the armed cut: the run hangs there until dropped.
    async fn point(&self, at: Cut, key: Option<&str>) {
        let armed = {
            let mut cut = self.cut.lock().unwrap();
            let armed = *cut == Some(at);
            if armed {
                *cut = None;
                *self.cut_key.lock().unwrap() = key.map(str::to_owned);
            }
            armed
        };
        if armed {
            self.reached.notify_one();
            std::future::pending::<()>().await;
        }
    }

    /// Runs `request` until `cut`, then drops the run, as if its process died there;
    /// the key of the call it was cut at, if it had one.
    pub async fn cut_run(&self, fetcher: &Fetcher, request: &FetchRequest, cut: Cut) -> Option<String> {
        *self.cut.lock().unwrap() = Some(cut);
        tokio::select! {
            report = fetcher.run(request, None) => panic!("the run ended before {cut:?}: {report:#?}"),
            () = self.reached.notified() => {}
        }
        self.cut_key.lock().unwrap().take()
    }

    async fn around<T>(&self, call: &'static str, inner: impl Future<Output = T>) -> T {
        self.keyed(call, None, inner).await
    }

    async fn keyed<T>(&self, call: &'static str, key: Option<&str>, inner: impl Future<Output = T>) -> T {
        self.count(call);
        self.point(Cut::Before(call), key).await;
        // Made, once past a cut before it.
        if let Some(key) = key {
            self.writes.lock().unwrap().push(key.to_owned());
        }
        let out = inner.await;
        self.point(Cut::After(call), key).await;
        out
    }
}

#[async_trait::async_trait]
impl StateSnapshots for Watched {
    async fn snapshot(&self, entity: &EntityId) -> Result<EntityState, StoreError> {
        self.around("snapshot", self.b.snapshots.snapshot(entity)).await
    }
}

#[async_trait::async_trait]
impl LeaseStore for Watched {
    async fn acquire(
        &self,
        entity: &EntityId,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<LeaseOutcome, StoreError> {
        self.around("lease acquire", self.b.leases.acquire(entity, holder, until, now))
            .await
    }

    async fn renew(&self, entity: &EntityId, holder: &str, until: DateTime<Utc>) -> Result<bool, StoreError> {
        self.around("lease renew", self.b.leases.renew(entity, holder, until))
            .await
    }

    async fn release(&self, entity: &EntityId, holder: &str) -> Result<bool, StoreError> {
        self.around("lease release", self.b.leases.release(entity, holder))
            .await
    }
}

#[async_trait::async_trait]
impl CursorStore for Watched {
    async fn advance(
        &self,
        entity: &EntityId,
        provider_id: &str,
        cursor: &Cursor,
        fence: Fence<'_>,
    ) -> Result<CursorOutcome, StoreError> {
        self.around(
            "cursor advance",
            self.b.cursors.advance(entity, provider_id, cursor, fence),
        )
        .await
    }
}

#[async_trait::async_trait]
impl Ledger for Watched {
    async fn record(&self, entity: &EntityId, entry: &LedgerEntry) -> Result<Insert, StoreError> {
        // The ledger row is the only write after a message's `message.json`.
        let folder = entry.message_key.trim_end_matches("/message.json");
        let key = format!("{folder}/(ledger row)");
        self.keyed("ledger record", Some(&key), self.b.ledger.record(entity, entry))
            .await
    }

    async fn delivered_among(
        &self,
        entity: &EntityId,
        provider_id: &str,
        message_ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let inner = self.b.ledger.delivered_among(entity, provider_id, message_ids);
        self.around("ledger delivered_among", inner).await
    }

    async fn event_published(&self, entity: &EntityId, provider_id: &str, message_id: &str) -> Result<(), StoreError> {
        let inner = self.b.ledger.event_published(entity, provider_id, message_id);
        self.around("ledger event published", inner).await
    }

    async fn pending_events(&self, entity: &EntityId, limit: usize) -> Result<Vec<LedgerEntry>, StoreError> {
        self.around("ledger pending events", self.b.ledger.pending_events(entity, limit))
            .await
    }

    async fn delivered_since(
        &self,
        entity: &EntityId,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.around("ledger delivered since", self.b.ledger.delivered_since(entity, since))
            .await
    }

    async fn note_retrieval(
        &self,
        entity: &EntityId,
        message: &MessageRef<'_>,
        retrieval: Retrieval,
        keep_until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Retrieval, StoreError> {
        let inner = self.b.ledger.note_retrieval(entity, message, retrieval, keep_until);
        self.around("note retrieval", inner).await
    }

    async fn noted_retrieval(
        &self,
        entity: &EntityId,
        message: &MessageRef<'_>,
    ) -> Result<Option<Retrieval>, StoreError> {
        self.around("read retrieval", self.b.ledger.noted_retrieval(entity, message))
            .await
    }
}

#[async_trait::async_trait]
impl RunReportStore for Watched {
    async fn put_last(
        &self,
        entity: &EntityId,
        report: &delivery::fetch::RunReport,
        fence: Option<Fence<'_>>,
    ) -> Result<(), StoreError> {
        self.around("status put", self.b.reports.put_last(entity, report, fence))
            .await
    }

    async fn get_last(&self, entity: &EntityId) -> Result<Option<delivery::fetch::StoredRun>, StoreError> {
        self.around("status get", self.b.reports.get_last(entity)).await
    }
}

/// The call name of an object put, by the file it writes.
fn put_name(key: &str) -> &'static str {
    match key.rsplit('/').next() {
        Some("message.json") => "put message.json",
        Some("body.json") => "put body.json",
        _ if key.contains("/_unreadable/") => "put unreadable",
        _ => "put attachment",
    }
}

#[async_trait::async_trait]
impl ObjectStore for Watched {
    async fn put(&self, object: PutObject) -> Result<Insert, StoreError> {
        let name = put_name(&object.key);
        let key = object.key.clone();
        self.keyed(name, Some(&key), self.objects.put(object)).await
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        self.objects.head(key).await
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        self.objects.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        self.objects.list(prefix).await
    }
}
