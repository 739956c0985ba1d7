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
