//! Answers kept under an idempotency key, in the state table, each in a partition of its
//! own and gone after its TTL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::codec::to_item;
use super::items::{AnswerItem, StateKey};
use super::{DynamoState, made, read, store_error};
use crate::ports::{Answer, Answers, StoreError};
use crate::schema::STATE_PARTITION_KEY;

#[async_trait]
impl Answers for DynamoState {
    async fn recall(&self, key: &str) -> Result<Option<Answer>, StoreError> {
        const OP: &str = "recall an answer";
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(to_item(StateKey::answer(key))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(OP, key, e))?;
        let Some(item) = out.item else { return Ok(None) };
        let kept: AnswerItem = read(&item, OP, key)?;
        Ok(Some(Answer {
            request: kept.request,
            status: kept.status,
            body: kept.body,
        }))
    }

    async fn remember(&self, key: &str, answer: &Answer, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(AnswerItem::row(key, answer, until)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", STATE_PARTITION_KEY)
            .send()
            .await;
        made(result, "remember an answer", key)
    }

    async fn settle(&self, key: &str, answer: &Answer, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(AnswerItem::row(key, answer, until)))
            .send()
            .await
            .map_err(|e| store_error("settle an answer", key, e))?;
        Ok(())
    }
}
