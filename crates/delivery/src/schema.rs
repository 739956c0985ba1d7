//! The DynamoDB key schemas, defined once: the local bootstrap creates tables from them, the
//! adapters build keys with them, and a test checks that `infra/` declares the same names.

use crate::EntityId;

/// Connections table: one item per connection, keyed by the entity's enterprise number.
pub const CONNECTIONS_PARTITION_KEY: &str = "entity_id";

/// State table: everything one entity's runs keep (lease, cursors, ledger, last run),
/// under one partition per entity.
pub const STATE_PARTITION_KEY: &str = "pk";
pub const STATE_SORT_KEY: &str = "sk";
/// Epoch seconds after which DynamoDB may delete an item (leases, old ledger rows).
pub const STATE_TTL_ATTRIBUTE: &str = "ttl";

pub const LEASE_SORT_KEY: &str = "LEASE";
/// Sorts before the ledger, with the lease and the cursors: one query for `sk < "MSG#"`
/// reads all of an entity's state but its ledger.
pub const LAST_RUN_SORT_KEY: &str = "LAST_RUN";
pub const CURSOR_PREFIX: &str = "CURSOR#";
pub const LEDGER_PREFIX: &str = "MSG#";
pub const RETRIEVAL_PREFIX: &str = "RETRIEVAL#";

/// An answer kept under an idempotency key (its digest), in a partition of its own.
pub const ANSWER_SORT_KEY: &str = "ANSWER";

pub fn answer_partition(key_digest: &str) -> String {
    format!("IDEMPOTENCY#{key_digest}")
}

pub fn entity_partition(entity: &EntityId) -> String {
    format!("ENTITY#{entity}")
}

pub fn cursor_sort_key(provider_id: &str) -> String {
    format!("{CURSOR_PREFIX}{}", escape(provider_id))
}

pub fn ledger_sort_key(provider_id: &str, message_id: &str) -> String {
    format!("{LEDGER_PREFIX}{}#{}", escape(provider_id), escape(message_id))
}

/// A message's retrieval facts, kept before its content is fetched. Sorted after the
/// ledger rows, so that neither the snapshot nor a ledger query reads them.
pub fn retrieval_sort_key(provider_id: &str, message_id: &str) -> String {
    format!("{RETRIEVAL_PREFIX}{}#{}", escape(provider_id), escape(message_id))
}

/// Ids come from e-Box; escaping `#` (and the escape character) keeps composite keys
/// unambiguous whatever an id contains.
fn escape(id: &str) -> String {
    id.replace('%', "%25").replace('#', "%23")
}

pub fn unescape(id: &str) -> String {
    id.replace("%23", "#").replace("%25", "%")
}

/// Where the state lives: the names every binary needs (read by [`crate::config`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageNames {
    pub connections_table: String,
    pub state_table: String,
    pub verdeelbak_bucket: String,
    /// The EventBridge bus delivered messages are announced on.
    pub event_bus: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_keys_cannot_collide() {
        // Without escaping, ("a#b", "c") and ("a", "b#c") would share a key.
        assert_ne!(ledger_sort_key("a#b", "c"), ledger_sort_key("a", "b#c"));
        assert_eq!(ledger_sort_key("p1", "m-1"), "MSG#p1#m-1");
        assert_eq!(unescape("a%23b%25"), "a#b%");
        assert_eq!(cursor_sort_key("x#y"), "CURSOR#x%23y");
    }

    #[test]
    fn everything_but_the_ledger_sorts_before_it() {
        for key in [LEASE_SORT_KEY, LAST_RUN_SORT_KEY, &cursor_sort_key("~~~~")] {
            assert!(key < LEDGER_PREFIX, "{key} must sort before {LEDGER_PREFIX}");
        }
        // Retrieval facts sort after the snapshot's range and outside the ledger's prefix.
        let retrieval = retrieval_sort_key("p", "m");
        assert!(retrieval.as_str() > LEDGER_PREFIX && !retrieval.starts_with(LEDGER_PREFIX));
    }
}
