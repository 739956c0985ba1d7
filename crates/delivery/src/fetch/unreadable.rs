//! An unreadable list item is kept raw under the entity's prefix, once, for a person to read.

use ebox::model::{MessageProvider, UnreadableItem};

use super::Step;
use super::deliver::put_json;
use super::failure::Failure;
use super::open_run::Run;
use crate::verdeelbak::keys;

impl Run<'_> {
    /// Keeps an unreadable list item's JSON under the entity's prefix, once; its key.
    pub(super) async fn keep_unreadable(
        &self,
        provider: &MessageProvider,
        item: &UnreadableItem,
    ) -> Result<String, Failure> {
        let (bytes, sha) = item.stored_bytes();
        let key = keys::unreadable_key(&self.connection.verdeelbak_prefix, &provider.message_provider_id, &sha);
        // Kept by an earlier run, these very bytes (the cursor remembers them by their
        // hash): nothing to write.
        let known = self
            .cursors
            .get(&provider.message_provider_id)
            .is_some_and(|c| c.unreadable.contains_key(&sha));
        if self.request.dry_run || known {
            return Ok(key);
        }

        if !self.lease.take_and_hold().await {
            return Err(Failure::Refused {
                step: Step::Lease,
                detail: "another run holds the entity".into(),
                retryable: true,
            });
        }
        self.fetcher
            .objects
            .put(put_json(&key, bytes, true))
            .await
            .map_err(Failure::store)?;
        Ok(key)
    }
}
