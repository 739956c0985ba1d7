//! Fenced writes: a write and a check that the run still holds the entity's lease, in one
//! transaction, so a run whose lease was taken over writes nothing more.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};

use super::items::StateKey;
use super::{DynamoState, s, store_error};
use crate::EntityId;
use crate::ports::{Fence, StoreError};
use crate::schema::LEASE_SORT_KEY;

/// How a transaction cancelled for a transient reason is reported; the SDK does not retry
/// those, [`DynamoState::fenced`] does.
const CANCELLED: &str = "transaction cancelled";

impl DynamoState {
    /// Makes `write` if `fence` still holds the lease: whether it was made, as [`super::made`]
    /// says (`false`: the write's own condition failed); [`StoreError::lease_lost`] when the
    /// lease's did. One cancelled for a transient reason (a conflict with the lease's renewal)
    /// is sent again, twice at most.
    pub(super) async fn fenced(
        &self,
        entity: &EntityId,
        fence: Fence<'_>,
        write: TransactWriteItem,
        operation: &'static str,
    ) -> Result<bool, StoreError> {
        use backon::{ExponentialBuilder, Retryable};
        let backoff = ExponentialBuilder::default()
            .with_min_delay(std::time::Duration::from_millis(50))
            .with_max_times(2)
            .with_jitter();
        (|| self.fenced_once(entity, fence, write.clone(), operation))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|e: &StoreError| e.retryable && !e.lease_lost && e.message.starts_with(CANCELLED))
            .await
    }

    async fn fenced_once(
        &self,
        entity: &EntityId,
        fence: Fence<'_>,
        write: TransactWriteItem,
        operation: &'static str,
    ) -> Result<bool, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(StateKey::item(entity, LEASE_SORT_KEY)))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(fence.0))
            .build()
            .map_err(|e| StoreError::new(operation, entity.as_str(), e.to_string()))?;
        // The SDK gives the request an idempotency token that its retries share, so a
        // retry after a lost answer is not made twice; a store that ignores the token
        // refuses the retry on the write's own condition, which each caller recognises.
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().condition_check(check).build())
            .transact_items(write)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(true),
            Err(err) => err,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = err.as_service_error() else {
            return Err(store_error(operation, entity.as_str(), err));
        };
        let reasons: Vec<&str> = cancelled
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or("None"))
            .collect();
        match reasons.as_slice() {
            ["ConditionalCheckFailed", ..] => Err(StoreError::lease_lost(operation, entity.as_str())),
            [_, "ConditionalCheckFailed"] => Ok(false),
            _ => Err(StoreError {
                // "The same transaction may pass if sent again."
                retryable: reasons.iter().any(|r| crate::aws::transient_code(r)),
                ..StoreError::new(
                    operation,
                    entity.as_str(),
                    format!("{CANCELLED}: {}", reasons.join(", ")),
                )
            }),
        }
    }
}
