//! A deployed stack, found by the prefix Terraform gives every resource's name
//! (`name_prefix`, [`DEFAULT_PREFIX`] unless set): its tables, event bus and fetch
//! function are named from the prefix alone; its verdeelbak bucket's name also holds the
//! account id, so the bucket is looked for among the account's buckets.

use crate::config::vars;

/// Terraform's default `name_prefix`.
pub const DEFAULT_PREFIX: &str = "digipost-ebox";

/// The variable that names the stack to the operator CLI, when `--stack` does not.
pub const STACK_VARIABLE: &str = "DIGIPOST_EBOX_STACK";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub prefix: String,
    /// The stack's verdeelbak bucket, once found (see [`Stack::bucket_among`]).
    pub bucket: Option<String>,
    /// Why the account's buckets could not be looked through, when they could not.
    pub unlisted: Option<String>,
}

impl Stack {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            bucket: None,
            unlisted: None,
        }
    }

    /// The value the stack gives a configuration variable, where it gives one.
    pub fn variable(&self, name: &str) -> Option<String> {
        let suffix = match name {
            vars::CONNECTIONS_TABLE => "connections",
            vars::STATE_TABLE => "state",
            vars::EVENT_BUS_NAME => "delivered",
            vars::FETCH_FUNCTION_NAME => "fetch",
            vars::VERDEELBAK_BUCKET => return self.bucket.clone(),
            _ => return None,
        };
        Some(format!("{}-{suffix}", self.prefix))
    }

    /// The stack's bucket among these bucket names: `<prefix>-verdeelbak-<account id>`.
    pub fn bucket_among<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Option<String> {
        let start = format!("{}-verdeelbak-", self.prefix);
        names
            .into_iter()
            .find(|name| {
                name.strip_prefix(&start)
                    .is_some_and(|account| account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
            })
            .map(str::to_owned)
    }

    /// Why a variable the stack should give has no value: what to set instead.
    pub fn missing(&self, name: &str) -> String {
        match name {
            vars::VERDEELBAK_BUCKET => format!(
                "{name} is not set, and no bucket {}-verdeelbak-<account id> was found for stack {:?}{} (set {name}, or name the stack with --stack or {STACK_VARIABLE})",
                self.prefix,
                self.prefix,
                self.unlisted
                    .as_ref()
                    .map(|e| format!(": the buckets could not be listed: {e}"))
                    .unwrap_or_default()
            ),
            _ => format!("{name} is not set"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix_and_the_bucket_its_account() {
        let mut stack = Stack::new("acc-ebox");
        assert_eq!(
            stack.variable(vars::CONNECTIONS_TABLE).as_deref(),
            Some("acc-ebox-connections")
        );
        assert_eq!(stack.variable(vars::STATE_TABLE).as_deref(), Some("acc-ebox-state"));
        assert_eq!(
            stack.variable(vars::EVENT_BUS_NAME).as_deref(),
            Some("acc-ebox-delivered")
        );
        assert_eq!(
            stack.variable(vars::FETCH_FUNCTION_NAME).as_deref(),
            Some("acc-ebox-fetch")
        );
        assert_eq!(stack.variable(vars::VERDEELBAK_BUCKET), None);
        assert_eq!(stack.variable(vars::EBOX_TOKEN_URL), None);
        let buckets = [
            "acc-ebox-verdeelbak-logs",
            "acc-ebox-verdeelbak-12345678901",
            "acc-ebox-other-verdeelbak-123456789012",
            "acc-ebox-verdeelbak-123456789012",
        ];
        stack.bucket = stack.bucket_among(buckets);
        assert_eq!(stack.bucket.as_deref(), Some("acc-ebox-verdeelbak-123456789012"));
        assert_eq!(stack.variable(vars::VERDEELBAK_BUCKET), stack.bucket);
        assert_eq!(Stack::new("acc").bucket_among(buckets), None);
    }
}
