//! The ledger rows of the state table: one per delivered message.

use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::KeysAndAttributes;

use super::codec::*;
use super::items::*;
use super::{DynamoState, made, read, store_error};
use crate::EntityId;
use crate::ports::*;
use crate::schema::*;
use aws_sdk_dynamodb::types::AttributeValue;

/// The most items DynamoDB takes in one transaction.
const TRANSACTION_ITEMS: usize = 100;

#[async_trait]
impl Ledger for DynamoState {
    async fn record(&self, entity: &EntityId, entry: &LedgerEntry) -> Result<Insert, StoreError> {
        let row = LedgerItem::row(entity, entry);
        if self.put_new(entity, row, "record delivery").await? {
            return Ok(Insert::Inserted);
        }
        // A row is there: this very entry, when the answer to an earlier attempt of this
        // write was lost after it took effect.
        let existing = self.ledger_entry(entity, &entry.provider_id, &entry.message_id).await?;
        Ok(if existing.is_some_and(|e| e.same_delivery(entry)) {
            Insert::Inserted
        } else {
            Insert::AlreadyExists
        })
    }

    /// One transaction of conditional puts for up to [`TRANSACTION_ITEMS`] rows (see
    /// [`DynamoState::all_new_or_each`]).
    async fn record_many(&self, entity: &EntityId, entries: &[LedgerEntry]) -> Vec<Result<Insert, StoreError>> {
        let row = |entry: &LedgerEntry| LedgerItem::row(entity, entry);
        let op = "record deliveries";
        self.all_new_or_each(
            entity,
            entries,
            op,
            row,
            |_| Insert::Inserted,
            |entry| self.record(entity, entry),
        )
        .await
    }

    async fn delivered_among(
        &self,
        entity: &EntityId,
        provider_id: &str,
        message_ids: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let mut found = HashSet::new();
        let mut unique: Vec<&String> = message_ids.iter().collect();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(100) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|id| StateKey::item(entity, ledger_sort_key(provider_id, id)))
                .collect();
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .projection_expression("message_id");
            for row in self.batch_get(request, "read ledger", entity.as_str()).await? {
                if let Ok(row) = decode::<LedgerId>(&row) {
                    found.insert(row.message_id);
                }
            }
        }
        Ok(found)
    }

    async fn event_published(&self, entity: &EntityId, provider_id: &str, message_id: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(StateKey::item(entity, ledger_sort_key(provider_id, message_id))))
            .update_expression("REMOVE event_pending")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", STATE_PARTITION_KEY)
            .send()
            .await;
        // A row that is gone (its message expired) has nothing pending either.
        made(result, "mark event published", entity.as_str()).map(drop)
    }

    async fn pending_events(&self, entity: &EntityId, limit: usize) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut rows = self.ledger_rows(entity, Some("event_pending = :yes"), limit).await?;
        rows.truncate(limit);
        Ok(rows)
    }

    async fn delivered_since(
        &self,
        entity: &EntityId,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        let rows = self.ledger_rows(entity, None, usize::MAX).await?;
        Ok(rows
            .into_iter()
            .filter(|row| since.is_none_or(|s| row.delivered_at >= s))
            .collect())
    }

    async fn note_retrieval(
        &self,
        entity: &EntityId,
        message: &MessageRef<'_>,
        retrieval: Retrieval,
        keep_until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Retrieval, StoreError> {
        let row = RetrievalItem::row(entity, message, retrieval, keep_until);
        if self.put_new(entity, row, "note retrieval").await? {
            return Ok(retrieval);
        }
        // Kept already, by an earlier attempt (or by this one, whose answer was lost).
        Ok(self.noted_retrieval(entity, message).await?.unwrap_or(retrieval))
    }

    /// One transaction of conditional puts, as [`Self::record_many`] records rows.
    async fn note_retrievals(
        &self,
        entity: &EntityId,
        notes: &[RetrievalNote<'_>],
    ) -> Vec<Result<Retrieval, StoreError>> {
        let row = |n: &RetrievalNote| RetrievalItem::row(entity, &n.message, n.retrieval, n.keep_until);
        let op = "note retrievals";
        let keep = |n: &RetrievalNote| n.retrieval;
        self.all_new_or_each(entity, notes, op, row, keep, |n| {
            self.note_retrieval(entity, &n.message, n.retrieval, n.keep_until)
        })
        .await
    }

    async fn noted_retrieval(
        &self,
        entity: &EntityId,
        message: &MessageRef<'_>,
    ) -> Result<Option<Retrieval>, StoreError> {
        const OP: &str = "read retrieval";
        let key = retrieval_sort_key(message.provider_id, message.message_id);
        let item = self.get_item(entity, key, OP).await?;
        item.map(|item| read::<RetrievalItem>(&item, OP, entity.as_str()).map(Retrieval::from))
            .transpose()
    }
}

impl DynamoState {
    /// Puts a row unless one with its key exists: whether it was put.
    async fn put_new(&self, entity: &EntityId, row: Item, operation: &'static str) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(row))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", STATE_PARTITION_KEY)
            .send()
            .await;
        made(result, operation, entity.as_str())
    }

    /// Writes the row of each of `items`, none of which may exist yet, in transactions of
    /// [`TRANSACTION_ITEMS`]: `put` is each item's answer when its transaction went
    /// through. A transaction that a row already there cancels is written again item by
    /// item with `each` (a write unit more a row than a put, less than a round trip a
    /// row), which tells a retry after a lost answer from another run's row. A lone item
    /// is written with `each` at once.
    async fn all_new_or_each<'a, T, A, Fut>(
        &'a self,
        entity: &EntityId,
        items: &'a [T],
        operation: &'static str,
        row: impl Fn(&T) -> Item,
        put: impl Fn(&T) -> A,
        each: impl Fn(&'a T) -> Fut,
    ) -> Vec<Result<A, StoreError>>
    where
        Fut: std::future::Future<Output = Result<A, StoreError>>,
    {
        let mut answers = Vec::with_capacity(items.len());
        for chunk in items.chunks(TRANSACTION_ITEMS) {
            if let [item] = chunk {
                answers.push(each(item).await);
                continue;
            }
            match self
                .put_all_new(entity, chunk.iter().map(&row).collect(), operation)
                .await
            {
                Ok(true) => answers.extend(chunk.iter().map(|item| Ok(put(item)))),
                Ok(false) => {
                    for item in chunk {
                        answers.push(each(item).await);
                    }
                }
                Err(e) => answers.extend(chunk.iter().map(|_| Err(e.again()))),
            }
        }
        answers
    }

    /// Puts rows, none of whose keys may exist, in one transaction: whether they were put
    /// (`false`: the transaction was cancelled, by a row there already or a conflict).
    async fn put_all_new(
        &self,
        entity: &EntityId,
        rows: Vec<Item>,
        operation: &'static str,
    ) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
        let mut request = self.client.transact_write_items();
        for row in rows {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(row))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", STATE_PARTITION_KEY)
                .build()
                .map_err(|e| StoreError::new(operation, entity.as_str(), e.to_string()))?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        // The SDK's idempotency token makes a retry after a lost answer a no-op; a store
        // that ignores it cancels the retry on the rows' own condition, and the rows are
        // then recorded one by one, each finding its own.
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(store_error(operation, entity.as_str(), e)),
        }
    }

    /// The entity's ledger rows in key order, those passing `filter` (on `:yes` = true),
    /// until at least `limit` are found.
    async fn ledger_rows(
        &self,
        entity: &EntityId,
        filter: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        const OP: &str = "read ledger";
        let mut rows = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self.query(entity, "begins_with(#sk, :ledger)", start.take());
            if let Some(filter) = filter {
                query = query
                    .filter_expression(filter)
                    .expression_attribute_values(":yes", AttributeValue::Bool(true));
            }
            let out = query.send().await.map_err(|e| store_error(OP, entity.as_str(), e))?;
            for item in out.items() {
                rows.push(LedgerEntry::from(read::<LedgerItem>(item, OP, entity.as_str())?));
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() && rows.len() < limit => start = Some(key),
                _ => return Ok(rows),
            }
        }
    }
}
