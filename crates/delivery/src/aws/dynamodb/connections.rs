//! The connections table: one item per entity, keyed by its enterprise number.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use super::codec::*;
use super::items::*;
use super::{DynamoConnections, made, read, store_error};
use crate::EntityId;
use crate::ports::*;
use crate::schema::CONNECTIONS_PARTITION_KEY;

fn connection_from_item(item: &Item) -> Result<Connection, StoreError> {
    const OP: &str = "read connection";
    let raw_id = decode::<ConnectionKey>(item).map(|k| k.entity_id).unwrap_or_default();
    let entity_id = EntityId::parse(&raw_id).map_err(|e| StoreError::new(OP, &raw_id, e.to_string()))?;
    read::<ConnectionItem>(item, OP, &raw_id)?
        .into_connection(entity_id)
        .map_err(|message| StoreError::new(OP, &raw_id, message))
}

#[async_trait]
impl ConnectionReader for DynamoConnections {
    async fn get(&self, entity: &EntityId) -> Result<Option<Connection>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(ConnectionKey::item(entity.as_str())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("read connection", entity.as_str(), e))?;
        out.item.as_ref().map(connection_from_item).transpose()
    }

    async fn page(&self, from: Option<String>, limit: usize) -> Result<Page<Connection>, StoreError> {
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(from.as_deref().map(ConnectionKey::item))
            .send()
            .await
            .map_err(|e| store_error("list connections", &self.table, e))?;
        let items = out
            .items()
            .iter()
            .map(connection_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let next = out
            .last_evaluated_key
            .as_ref()
            .and_then(|k| decode::<ConnectionKey>(k).ok())
            .map(|k| k.entity_id);
        Ok(Page { items, next })
    }

    async fn set_health(&self, entity: &EntityId, health: &crate::health::Health) -> Result<bool, StoreError> {
        let values = [(":health", value(health))];
        self.update(entity, "SET health = :health", values, "record connection health")
            .await
    }

    async fn first_message_delivered(&self, entity: &EntityId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(ConnectionKey::item(entity.as_str())))
            .update_expression("SET onboarding.first_message_delivered_at = :at")
            .condition_expression(
                "attribute_exists(#pk) AND attribute_exists(onboarding) \
                 AND attribute_not_exists(onboarding.first_message_delivered_at)",
            )
            .expression_attribute_names("#pk", CONNECTIONS_PARTITION_KEY)
            .expression_attribute_values(":at", value(Iso(at)))
            .send()
            .await;
        made(result, "record the first delivered message", entity.as_str())
    }
}

#[async_trait]
impl ConnectionAdmin for DynamoConnections {
    async fn insert(&self, connection: &Connection) -> Result<Insert, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(ConnectionItem::row(connection)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", CONNECTIONS_PARTITION_KEY)
            .send()
            .await;
        Ok(match made(result, "add connection", connection.entity_id.as_str())? {
            true => Insert::Inserted,
            false => Insert::AlreadyExists,
        })
    }

    async fn put(&self, connection: &Connection) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(ConnectionItem::row(connection)))
            .send()
            .await
            .map_err(|e| store_error("write connection", connection.entity_id.as_str(), e))?;
        Ok(())
    }

    async fn set_enabled(&self, entity: &EntityId, enabled: bool, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let values = [(":enabled", value(enabled)), (":now", value(Iso(now)))];
        let expression = "SET enabled = :enabled, updated_at = :now";
        self.update(entity, expression, values, "enable/disable connection")
            .await
    }

    async fn set_onboarding(
        &self,
        entity: &EntityId,
        onboarding: &crate::onboarding::Onboarding,
        seen: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(ConnectionKey::item(entity.as_str())))
            .update_expression("SET onboarding = :onboarding, updated_at = :now")
            .condition_expression("updated_at = :seen")
            .expression_attribute_values(":onboarding", value(onboarding))
            .expression_attribute_values(":now", value(Iso(now)))
            .expression_attribute_values(":seen", value(Iso(seen)))
            .send()
            .await;
        made(result, "record the onboarding", entity.as_str())
    }

    async fn replace(&self, connection: &Connection, seen: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(ConnectionItem::row(connection)))
            .condition_expression("updated_at = :seen")
            .expression_attribute_values(":seen", value(Iso(seen)))
            .send()
            .await;
        made(result, "write connection", connection.entity_id.as_str())
    }

    async fn touch(&self, entity: &EntityId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let values = [(":now", value(Iso(now)))];
        self.update(entity, "SET updated_at = :now", values, "touch connection")
            .await
    }

    async fn remove(&self, entity: &EntityId) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(ConnectionKey::item(entity.as_str())))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| store_error("remove connection", entity.as_str(), e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}

impl DynamoConnections {
    /// Updates the entity's connection: `false` when there is none (nothing is written).
    async fn update<const N: usize>(
        &self,
        entity: &EntityId,
        expression: &str,
        values: [(&str, AttributeValue); N],
        operation: &'static str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(ConnectionKey::item(entity.as_str())))
            .update_expression(expression)
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", CONNECTIONS_PARTITION_KEY)
            .set_expression_attribute_values(Some(values.map(|(k, v)| (k.to_owned(), v)).into()))
            .send()
            .await;
        made(result, operation, entity.as_str())
    }
}
