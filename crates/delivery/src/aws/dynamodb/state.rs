//! The state table but its ledger: lease, cursors, and the last run.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use std::collections::HashMap;

use aws_sdk_dynamodb::types::{KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::codec::*;
use super::items::*;
use super::{DynamoState, made, read, s, store_error};
use crate::EntityId;
use crate::ports::*;
use crate::schema::*;

#[async_trait]
impl LeaseStore for DynamoState {
    async fn acquire(
        &self,
        entity: &EntityId,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<LeaseOutcome, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(LeaseItem::row(entity, holder, until)))
            // The expiry is checked in the write, so a run killed at its timeout blocks the
            // entity no longer than its lease; expired at `until` itself, as in every store.
            .condition_expression("attribute_not_exists(#pk) OR lease_until_ms <= :now OR holder = :holder")
            .expression_attribute_names("#pk", STATE_PARTITION_KEY)
            .expression_attribute_values(":now", value(Millis(now)))
            .expression_attribute_values(":holder", s(holder))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(LeaseOutcome::Acquired),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => {
                    let current = match c.item() {
                        Some(item) => Some(item.clone()),
                        None => self.get_item(entity, LEASE_SORT_KEY.to_owned(), "read lease").await?,
                    };
                    let held = current.and_then(|item| decode::<LeaseHolder>(&item).ok());
                    let (holder, until) = held.map_or((None, None), |h| (h.holder, h.lease_until_ms));
                    Ok(LeaseOutcome::HeldBy {
                        holder: holder.unwrap_or_else(|| "unknown".to_owned()),
                        until: until.map_or(now, |t| t.0),
                    })
                }
                _ => Err(store_error("take lease", entity.as_str(), e)),
            },
        }
    }

    async fn renew(&self, entity: &EntityId, holder: &str, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(LeaseItem::row(entity, holder, until)))
            // Retried after a lost answer, the holder is still this run's: it passes again.
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        made(result, "renew lease", entity.as_str())
    }

    async fn release(&self, entity: &EntityId, holder: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(StateKey::item(entity, LEASE_SORT_KEY)))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        made(result, "release lease", entity.as_str())
    }
}

#[async_trait]
impl CursorStore for DynamoState {
    async fn advance(
        &self,
        entity: &EntityId,
        provider_id: &str,
        cursor: &Cursor,
        fence: Fence<'_>,
    ) -> Result<CursorOutcome, StoreError> {
        const OP: &str = "advance cursor";
        let to = cursor.position;
        // Every attribute set by name (`position` is a reserved word) and value placeholders.
        let attributes = CursorItem::attributes(provider_id, cursor);
        let set: Vec<String> = attributes.keys().map(|name| format!("#{name} = :{name}")).collect();
        let names = attributes
            .keys()
            .map(|name| (format!("#{name}"), name.clone()))
            .collect();
        let values = attributes
            .into_iter()
            .map(|(name, v)| (format!(":{name}"), v))
            .collect();
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(StateKey::item(entity, cursor_sort_key(provider_id))))
            .update_expression(format!("SET {}", set.join(", ")))
            // `<=`: the same cursor again (a retry after a lost answer) passes.
            .condition_expression("attribute_not_exists(#position_ms) OR #position_ms <= :position_ms")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::new(OP, entity.as_str(), e.to_string()))?;
        let write = TransactWriteItem::builder().update(update).build();
        if self.fenced(entity, fence, write, OP).await? {
            return Ok(CursorOutcome::Advanced);
        }
        let current = self.cursor(entity, provider_id).await?.map(|c| c.position);
        Ok(CursorOutcome::WouldMoveBackwards {
            current: current.unwrap_or(to),
        })
    }
}

/// The stored last run; an item whose report does not read is that, never an error.
fn report_from_item(item: &Item) -> StoredRun {
    match decode::<LastRunItem>(item) {
        Ok(row) => StoredRun::decode(&row.report),
        Err(e) => StoredRun::Unreadable {
            last_success_at: None,
            error: format!("the item has no report: {e}"),
        },
    }
}

#[async_trait]
impl StateInspection for DynamoState {
    async fn cursor(&self, entity: &EntityId, provider_id: &str) -> Result<Option<Cursor>, StoreError> {
        let item = self
            .get_item(entity, cursor_sort_key(provider_id), "read cursor")
            .await?;
        Ok(item.and_then(|item| decode::<CursorItem>(&item).ok()).map(Cursor::from))
    }

    async fn ledger_entry(
        &self,
        entity: &EntityId,
        provider_id: &str,
        message_id: &str,
    ) -> Result<Option<LedgerEntry>, StoreError> {
        const OP: &str = "read ledger";
        let item = self
            .get_item(entity, ledger_sort_key(provider_id, message_id), OP)
            .await?;
        let row = item
            .map(|item| read::<LedgerItem>(&item, OP, entity.as_str()))
            .transpose()?;
        Ok(row.map(LedgerEntry::from))
    }
}

#[async_trait]
impl StateSnapshots for DynamoState {
    async fn snapshot(&self, entity: &EntityId) -> Result<EntityState, StoreError> {
        const OP: &str = "read entity state";
        let mut state = EntityState::default();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .query(entity, "#sk < :ledger", start.take())
                .send()
                .await
                .map_err(|e| store_error(OP, entity.as_str(), e))?;
            for item in out.items() {
                let sort_key = decode::<StateKey>(item).map(|k| k.sk).unwrap_or_default();
                if sort_key == LEASE_SORT_KEY {
                    state.lease = decode::<LeaseItem>(item).ok().map(Lease::from);
                } else if sort_key == LAST_RUN_SORT_KEY {
                    state.last_run = Some(report_from_item(item));
                } else if let Some(escaped) = sort_key.strip_prefix(CURSOR_PREFIX) {
                    let cursor: CursorItem = read(item, OP, entity.as_str())?;
                    state.cursors.insert(unescape(escaped), cursor.into());
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(state),
            }
        }
    }
}

#[async_trait]
impl RunReportStore for DynamoState {
    async fn put_last(
        &self,
        entity: &EntityId,
        report: &RunReport,
        fence: Option<Fence<'_>>,
    ) -> Result<(), StoreError> {
        const OP: &str = "write run report";
        let item = LastRunItem::row(entity, &StoredRun::encode(report));
        let Some(fence) = fence else {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| store_error(OP, entity.as_str(), e))?;
            return Ok(());
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(|e| StoreError::new(OP, entity.as_str(), e.to_string()))?;
        // An unconditional put: only the lease's condition can refuse it.
        self.fenced(entity, fence, TransactWriteItem::builder().put(put).build(), OP)
            .await?;
        Ok(())
    }

    async fn get_last(&self, entity: &EntityId) -> Result<Option<StoredRun>, StoreError> {
        let item = self
            .get_item(entity, LAST_RUN_SORT_KEY.to_owned(), "read run report")
            .await?;
        Ok(item.map(|item| report_from_item(&item)))
    }

    async fn get_last_many(&self, entities: &[EntityId]) -> Result<Vec<(EntityId, StoredRun)>, StoreError> {
        const OP: &str = "read run reports";
        let mut found = Vec::with_capacity(entities.len());
        // BatchGetItem takes at most 100 keys.
        for chunk in entities.chunks(100) {
            let by_partition: HashMap<String, &EntityId> = chunk.iter().map(|e| (entity_partition(e), e)).collect();
            let keys = chunk.iter().map(|e| StateKey::item(e, LAST_RUN_SORT_KEY)).collect();
            let request = KeysAndAttributes::builder().set_keys(Some(keys));
            for item in self.batch_get(request, OP, "fleet").await? {
                let pk = item.get(STATE_PARTITION_KEY).and_then(|v| v.as_s().ok());
                let Some(entity) = pk.and_then(|pk| by_partition.get(pk)) else {
                    continue;
                };
                found.push(((*entity).clone(), report_from_item(&item)));
            }
        }
        Ok(found)
    }
}

impl DynamoState {
    /// A consistent query of the entity's partition, from `start`, for the rows whose sort
    /// key `#sk` meets `condition` beside `:ledger` (the ledger's prefix).
    pub(super) fn query(&self, entity: &EntityId, condition: &str, start: Option<Item>) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression(format!("#pk = :pk AND {condition}"))
            .expression_attribute_names("#pk", STATE_PARTITION_KEY)
            .expression_attribute_names("#sk", STATE_SORT_KEY)
            .expression_attribute_values(":pk", s(entity_partition(entity)))
            .expression_attribute_values(":ledger", s(LEDGER_PREFIX))
            .consistent_read(true)
            .set_exclusive_start_key(start)
    }
}
