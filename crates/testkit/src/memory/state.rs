//! The state table's twin: leases, cursors, the ledger and run reports.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use delivery::EntityId;
use delivery::ports::*;

#[derive(Default)]
pub struct MemoryState {
    leases: Mutex<HashMap<EntityId, (String, DateTime<Utc>)>>,
    cursors: Mutex<HashMap<(EntityId, String), Cursor>>,
    ledger: Mutex<HashMap<(EntityId, String, String), LedgerEntry>>,
    /// Kept encoded, as the table keeps them, so a read decodes as the table's does.
    reports: Mutex<HashMap<EntityId, String>>,
    retrievals: Mutex<HashMap<(EntityId, String, String), Retrieval>>,
    answers: Mutex<HashMap<String, Answer>>,
}

#[async_trait]
impl Answers for MemoryState {
    async fn recall(&self, key: &str) -> Result<Option<Answer>, StoreError> {
        Ok(self.answers.lock().unwrap().get(key).cloned())
    }

    async fn remember(&self, key: &str, answer: &Answer, _until: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut answers = self.answers.lock().unwrap();
        if answers.contains_key(key) {
            return Ok(false);
        }
        answers.insert(key.to_owned(), answer.clone());
        Ok(true)
    }

    async fn settle(&self, key: &str, answer: &Answer, _until: DateTime<Utc>) -> Result<(), StoreError> {
        self.answers.lock().unwrap().insert(key.to_owned(), answer.clone());
        Ok(())
    }
}

impl MemoryState {
    /// The entity's ledger rows that `keep` keeps, in key order (as DynamoDB queries them).
    fn rows_of(&self, entity: &EntityId, keep: impl Fn(&LedgerEntry) -> bool) -> Vec<LedgerEntry> {
        let ledger = self.ledger.lock().unwrap();
        let mut rows: Vec<(&(EntityId, String, String), &LedgerEntry)> = ledger
            .iter()
            .filter(|((e, _, _), row)| e == entity && keep(row))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        rows.into_iter().map(|(_, row)| row.clone()).collect()
    }

    /// The write's lease is still its holder's, as DynamoDB checks in the same transaction.
    fn check_fence(&self, entity: &EntityId, fence: Fence<'_>, operation: &'static str) -> Result<(), StoreError> {
        let leases = self.leases.lock().unwrap();
        match leases.get(entity) {
            Some((holder, _)) if holder == fence.0 => Ok(()),
            _ => Err(StoreError::lease_lost(operation, entity.as_str())),
        }
    }
}

#[async_trait]
impl LeaseStore for MemoryState {
    async fn acquire(
        &self,
        entity: &EntityId,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<LeaseOutcome, StoreError> {
        let mut leases = self.leases.lock().unwrap();
        if let Some((current, current_until)) = leases.get(entity)
            && current != holder
            && *current_until > now
        {
            return Ok(LeaseOutcome::HeldBy {
                holder: current.clone(),
                until: *current_until,
            });
        }
        leases.insert(entity.clone(), (holder.to_owned(), until));
        Ok(LeaseOutcome::Acquired)
    }

    async fn renew(&self, entity: &EntityId, holder: &str, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut leases = self.leases.lock().unwrap();
        match leases.get_mut(entity) {
            Some((current, current_until)) if current == holder => {
                *current_until = until;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(&self, entity: &EntityId, holder: &str) -> Result<bool, StoreError> {
        let mut leases = self.leases.lock().unwrap();
        if leases.get(entity).is_some_and(|(h, _)| h == holder) {
            leases.remove(entity);
            return Ok(true);
        }
        Ok(false)
    }
}

#[async_trait]
impl CursorStore for MemoryState {
    async fn advance(
        &self,
        entity: &EntityId,
        provider_id: &str,
        cursor: &Cursor,
        fence: Fence<'_>,
    ) -> Result<CursorOutcome, StoreError> {
        self.check_fence(entity, fence, "advance cursor")?;
        let mut cursors = self.cursors.lock().unwrap();
        let key = (entity.clone(), provider_id.to_owned());
        match cursors.get(&key) {
            Some(current) if current.position > cursor.position => Ok(CursorOutcome::WouldMoveBackwards {
                current: current.position,
            }),
            _ => {
                cursors.insert(key, cursor.clone());
                Ok(CursorOutcome::Advanced)
            }
        }
    }
}

#[async_trait]
impl StateSnapshots for MemoryState {
    async fn snapshot(&self, entity: &EntityId) -> Result<EntityState, StoreError> {
        let lease = self.leases.lock().unwrap().get(entity).map(|(holder, until)| Lease {
            holder: holder.clone(),
            until: *until,
        });
        let cursors = self
            .cursors
            .lock()
            .unwrap()
            .iter()
            .filter(|((e, _), _)| e == entity)
            .map(|((_, provider), cursor)| (provider.clone(), cursor.clone()))
            .collect();
        let last_run = self.reports.lock().unwrap().get(entity).map(|r| StoredRun::decode(r));
        Ok(EntityState {
            lease,
            cursors,
            last_run,
        })
    }
}

#[async_trait]
impl Ledger for MemoryState {
    async fn record(&self, entity: &EntityId, entry: &LedgerEntry) -> Result<Insert, StoreError> {
        let key = (entity.clone(), entry.provider_id.clone(), entry.message_id.clone());
        let mut ledger = self.ledger.lock().unwrap();
        if let Some(existing) = ledger.get(&key) {
            return Ok(if existing.same_delivery(entry) {
                Insert::Inserted
            } else {
                Insert::AlreadyExists
            });
        }
        ledger.insert(key, entry.clone());
        Ok(Insert::Inserted)
    }

    async fn delivered_among(
        &self,
        entity: &EntityId,
        provider_id: &str,
        message_ids: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let ledger = self.ledger.lock().unwrap();
        Ok(message_ids
            .iter()
            .filter(|id| ledger.contains_key(&(entity.clone(), provider_id.to_owned(), (*id).clone())))
            .cloned()
            .collect())
    }

    async fn event_published(&self, entity: &EntityId, provider_id: &str, message_id: &str) -> Result<(), StoreError> {
        let key = (entity.clone(), provider_id.to_owned(), message_id.to_owned());
        if let Some(row) = self.ledger.lock().unwrap().get_mut(&key) {
            row.event_pending = false;
        }
        Ok(())
    }

    async fn pending_events(&self, entity: &EntityId, limit: usize) -> Result<Vec<LedgerEntry>, StoreError> {
        Ok(self
            .rows_of(entity, |row| row.event_pending)
            .into_iter()
            .take(limit)
            .collect())
    }

    async fn delivered_since(
        &self,
        entity: &EntityId,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        Ok(self.rows_of(entity, |row| since.is_none_or(|s| row.delivered_at >= s)))
    }

    async fn note_retrieval(
        &self,
        entity: &EntityId,
        message: &MessageRef<'_>,
        retrieval: Retrieval,
        _keep_until: DateTime<Utc>,
    ) -> Result<Retrieval, StoreError> {
        let key = (
            entity.clone(),
            message.provider_id.to_owned(),
            message.message_id.to_owned(),
        );
        Ok(*self.retrievals.lock().unwrap().entry(key).or_insert(retrieval))
    }

    async fn noted_retrieval(
        &self,
        entity: &EntityId,
        message: &MessageRef<'_>,
    ) -> Result<Option<Retrieval>, StoreError> {
        let key = (
            entity.clone(),
            message.provider_id.to_owned(),
            message.message_id.to_owned(),
        );
        Ok(self.retrievals.lock().unwrap().get(&key).copied())
    }
}

#[async_trait]
impl RunReportStore for MemoryState {
    async fn put_last(
        &self,
        entity: &EntityId,
        report: &RunReport,
        fence: Option<Fence<'_>>,
    ) -> Result<(), StoreError> {
        if let Some(fence) = fence {
            self.check_fence(entity, fence, "write run report")?;
        }
        self.reports
            .lock()
            .unwrap()
            .insert(entity.clone(), StoredRun::encode(report));
        Ok(())
    }

    async fn get_last(&self, entity: &EntityId) -> Result<Option<StoredRun>, StoreError> {
        Ok(self.reports.lock().unwrap().get(entity).map(|r| StoredRun::decode(r)))
    }
}

#[async_trait]
impl StateInspection for MemoryState {
    async fn cursor(&self, entity: &EntityId, provider_id: &str) -> Result<Option<Cursor>, StoreError> {
        Ok(self
            .cursors
            .lock()
            .unwrap()
            .get(&(entity.clone(), provider_id.to_owned()))
            .cloned())
    }

    async fn ledger_entry(
        &self,
        entity: &EntityId,
        provider_id: &str,
        message_id: &str,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        let key = (entity.clone(), provider_id.to_owned(), message_id.to_owned());
        Ok(self.ledger.lock().unwrap().get(&key).cloned())
    }
}
