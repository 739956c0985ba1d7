//! An unreadable list item is kept raw under the entity's prefix, once, for a person to read.

use ebox::model::{MessageProvider, UnreadableItem};

use super::Step;
use super::deliver::Deliverer;
use super::deliver::put_json;
use super::failure::Failure;
use crate::verdeelbak::keys;

impl Deliverer<'_> {
    /// Keeps an unreadable list item's JSON under the entity's prefix, once; its key.
    /// `write` is false when there is nothing to write: a dry run, or these very bytes
    /// kept by an earlier run (`known(sha)`: the cursor remembers them by their hash).
    pub(super) async fn keep_unreadable(
        &self,
        provider: &MessageProvider,
        item: &UnreadableItem,
        write: impl FnOnce(&str) -> bool,
    ) -> Result<String, Failure> {
        let (bytes, sha) = item.stored_bytes();
        let key = keys::unreadable_key(self.prefix, &provider.message_provider_id, &sha);
        if !write(&sha) {
            return Ok(key);
        }

        if !self.lease.take_and_hold().await {
            return Err(Failure::Refused {
                step: Step::Lease,
                detail: "another run holds the entity".into(),
                retryable: true,
            });
        }
        self.objects
            .put(put_json(&key, bytes, true))
            .await
            .map_err(Failure::store)?;
        Ok(key)
    }
}
