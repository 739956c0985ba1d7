//! The ledger rows of the state table: one per delivered message.

use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::KeysAndAttributes;

use super::codec::*;
use super::items::*;
use super::{DynamoState, made, store_error};
use crate::EntityId;
use crate::ports::*;
use crate::schema::*;

#[async_trait]
impl Ledger for DynamoState {
    async fn record(&self, entity: &EntityId, entry: &LedgerEntry) -> Result<Insert, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(LedgerItem::row(entity, entry)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", STATE_PARTITION_KEY)
            .send()
            .await;
        if made(result, "record delivery", entity.as_str())? {
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
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .projection_expression("message_id")
                    .build()
                    .map_err(|e| StoreError::new("read ledger", entity.as_str(), e.to_string()))?,
            );
            // Unprocessed keys (throttling) are asked again until none are left.
            for _ in 0..10 {
                let Some(keys) = request.take() else { break };
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(|e| store_error("read ledger", entity.as_str(), e))?;
                let rows = out.responses.as_ref().and_then(|r| r.get(&self.table));
                for row in rows.into_iter().flatten() {
                    if let Ok(row) = decode::<LedgerId>(row) {
                        found.insert(row.message_id);
                    }
                }
                request = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table));
            }
            if request.is_some() {
                return Err(StoreError {
                    retryable: true,
                    ..StoreError::new("read ledger", entity.as_str(), "DynamoDB kept keys unprocessed")
                });
            }
        }
        Ok(found)
    }
}
