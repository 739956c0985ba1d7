//! Connections and state in DynamoDB. Each kind of item is a serde struct of [`items`],
//! encoded by serde_dynamo ([`codec`]); the other modules hold the requests, their
//! conditions and how their errors map.

mod answers;
mod codec;
mod connections;
mod fence;
mod items;
mod ledger;
mod state;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;

use self::codec::{Item, decode};
use self::items::StateKey;
use super::store_error;
use crate::EntityId;
use crate::ports::StoreError;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// Whether a conditional write was made: `false` when DynamoDB refused it on its
/// condition, an error for anything else.
fn made<O, E, R>(
    result: Result<O, aws_sdk_dynamodb::error::SdkError<E, R>>,
    operation: &'static str,
    target: &str,
) -> Result<bool, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(store_error(operation, target, e)),
    }
}

/// Reads a stored item, or says which attribute of it is wrong.
fn read<T: DeserializeOwned>(item: &Item, operation: &'static str, target: &str) -> Result<T, StoreError> {
    decode(item).map_err(|message| StoreError::new(operation, target, message))
}

/// Connections in DynamoDB, one item per entity.
#[derive(Clone, Debug)]
pub struct DynamoConnections {
    client: Client,
    table: String,
}

impl DynamoConnections {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

/// The state table: lease, cursors, ledger and last run of every entity.
#[derive(Clone, Debug)]
pub struct DynamoState {
    client: Client,
    table: String,
}

impl DynamoState {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The items of one BatchGetItem request (at most 100 keys). What DynamoDB leaves
    /// unprocessed (throttling) is asked again after a growing pause, a bounded number of
    /// times; then the read fails, retryable.
    async fn batch_get(
        &self,
        request: aws_sdk_dynamodb::types::builders::KeysAndAttributesBuilder,
        operation: &'static str,
        target: &str,
    ) -> Result<Vec<Item>, StoreError> {
        use backon::BackoffBuilder;
        let mut request = request
            .build()
            .map_err(|e| StoreError::new(operation, target, e.to_string()))?;
        let mut pauses = backon::ExponentialBuilder::default()
            .with_min_delay(std::time::Duration::from_millis(20))
            .with_max_times(8)
            .with_jitter()
            .build();
        let mut items = Vec::new();
        loop {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| store_error(operation, target, e))?;
            items.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            match out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                Some(rest) if !rest.keys().is_empty() => {
                    let Some(pause) = pauses.next() else {
                        return Err(StoreError {
                            retryable: true,
                            ..StoreError::new(operation, target, "DynamoDB kept keys unprocessed")
                        });
                    };
                    tokio::time::sleep(pause).await;
                    request = rest;
                }
                _ => return Ok(items),
            }
        }
    }

    async fn get_item(
        &self,
        entity: &EntityId,
        sort_key: String,
        operation: &'static str,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(StateKey::item(entity, sort_key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(operation, entity.as_str(), e))?;
        Ok(out.item)
    }
}

// Unit tests of the item layouts, kept with the crate's other tests.
#[cfg(test)]
#[path = "../../../tests/unit/dynamodb_items.rs"]
mod tests;
