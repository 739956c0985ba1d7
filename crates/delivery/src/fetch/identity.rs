//! Which registry a discovered provider is, whatever discovery calls it today.
//!
//! Cursors, ledger rows and message folders are keyed by a provider id. Discovery may
//! give the same registry another id: a deployment that switches from the older
//! Provider Registry to the Document Provider Registry, a registry that moves from v2
//! to v3, a rename. Walked under the new id, every message still in e-Box would be
//! delivered a second time. So a provider id this entity has no cursor for is first
//! recognised: by an id recorded earlier, by its registry URL (the version segment
//! aside), or by its messages (the newest page, against the ledger of each registry
//! the entity knows). A registry recognised keeps the id it was first delivered under.

use std::collections::BTreeMap;

use ebox::model::{Listed, MessageProvider};
use ebox::{EboxError, Visibility};
use futures::{StreamExt, TryStreamExt};

use super::walk::Walker;
use super::{ProviderReport, ProviderStatus, Recognised};
use crate::ports::Cursor;

/// A registry URL as compared: no scheme case, no trailing slash, no `vN` segment.
pub(super) fn registry_key(url: &str) -> String {
    url.trim()
        .trim_end_matches('/')
        .to_ascii_lowercase()
        .split('/')
        .filter(|segment| {
            !(segment.len() > 1 && segment.starts_with('v') && segment[1..].chars().all(|c| c.is_ascii_digit()))
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// By the cursors alone: the id the registry is stored under, when known. `listed` are
/// the ids discovery gives today.
pub(super) fn by_record(
    provider: &MessageProvider,
    cursors: &BTreeMap<String, Cursor>,
    listed: &[&str],
) -> Option<(String, Option<Recognised>)> {
    let id = &provider.message_provider_id;
    if cursors.contains_key(id) {
        return Some((id.clone(), None));
    }
    if let Some((known, _)) = cursors.iter().find(|(_, c)| c.also_known_as.contains(id)) {
        return Some((known.clone(), Some(Recognised::RecordedName)));
    }
    let key = registry_key(&provider.message_provider_url);
    cursors
        .iter()
        .filter(|(known, c)| !listed.contains(&known.as_str()) && !c.registry_url.is_empty())
        .find(|(_, c)| registry_key(&c.registry_url) == key)
        .map(|(known, _)| (known.clone(), Some(Recognised::RegistryUrl)))
}

impl Walker<'_> {
    /// Walks the provider under the id its registry is stored under.
    pub(super) async fn identified(&self, provider: &MessageProvider, listed: &[&str]) -> ProviderReport {
        match self.identify(provider, listed).await {
            Ok((walked, recognised)) => {
                let mut report = self.provider(&walked, provider).await;
                if recognised.is_some() || walked.message_provider_id != provider.message_provider_id {
                    report.listed_as = Some(provider.message_provider_id.clone());
                    report.recognised_by = recognised;
                }
                report
            }
            Err(error) => ProviderReport {
                provider_id: provider.message_provider_id.clone(),
                state: ProviderStatus::Failed,
                error: Some(error),
                ..ProviderReport::default()
            },
        }
    }

    /// The provider as it is walked: under the id its registry is stored under.
    pub(super) async fn identify(
        &self,
        provider: &MessageProvider,
        listed: &[&str],
    ) -> Result<(MessageProvider, Option<Recognised>), String> {
        let found = match by_record(provider, self.cursors, listed) {
            Some(found) => Some(found),
            None => self.by_messages(provider).await?,
        };
        let Some((stored_as, recognised)) = found else {
            return Ok((provider.clone(), None));
        };
        if recognised.is_some() {
            tracing::warn!(
                listed_as = %provider.message_provider_id,
                stored_as = %stored_as,
                by = ?recognised,
                "a registry known under another id: delivered under the id it was first delivered under"
            );
        }
        let mut walked = provider.clone();
        walked.message_provider_id = stored_as;
        Ok((walked, recognised))
    }

    /// A provider id the entity has no cursor for, while it has cursors for others: the
    /// newest page of its list, against the ledger of each. Messages received by a
    /// cursor's position were all delivered under that cursor's id if it is the same
    /// registry. Most of them, and at least two, found there is the same registry: one
    /// id alone could be a coincidence of two registries' numbering, and taking a new
    /// registry for a known one would leave its mail undelivered, which is worse than
    /// delivering a small e-Box's mail a second time.
    async fn by_messages(&self, provider: &MessageProvider) -> Result<Option<(String, Option<Recognised>)>, String> {
        if self.cursors.is_empty() {
            return Ok(None);
        }
        let page: Vec<Listed> = self
            .mailbox
            .messages(provider, None, Visibility::AsListed)
            .take(ebox::PAGE_SIZE)
            .try_collect()
            .await
            .map_err(|e: EboxError| format!("recognising the registry: listing: {e}"))?;
        for (known, cursor) in self.cursors {
            let old: Vec<String> = page
                .iter()
                .filter_map(|item| match item {
                    Listed::Message(m) if m.message.receipt_date.is_some_and(|r| r <= cursor.position) => {
                        Some(m.message.message_id.clone())
                    }
                    _ => None,
                })
                .collect();
            if old.is_empty() {
                continue;
            }
            let delivered = self
                .ledger
                .delivered_among(self.entity, known, &old)
                .await
                .map_err(|e| format!("recognising the registry: ledger of {known}: {e}"))?;
            if delivered.len() >= 2 && delivered.len() * 2 > old.len() {
                return Ok(Some((known.clone(), Some(Recognised::Messages))));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_url_is_the_same_across_versions_and_slashes() {
        assert_eq!(
            registry_key("https://h/REST/ebox/enterprise/messageRegistry/v2/"),
            registry_key("https://h/REST/ebox/enterprise/messageRegistry/v3")
        );
        assert_ne!(
            registry_key("https://h/registries/a/v2"),
            registry_key("https://h/registries/b/v2")
        );
    }

    #[test]
    fn a_recorded_name_or_a_vanished_registry_at_the_same_url() {
        let mut cursors = BTreeMap::new();
        cursors.insert(
            "old".to_owned(),
            Cursor {
                registry_url: "https://h/registries/x/v2/".into(),
                also_known_as: ["older".to_owned()].into(),
                ..Cursor::default()
            },
        );
        let at = |id: &str, url: &str| MessageProvider::new(id, url);
        let url = "https://h/registries/x/v3/";
        assert_eq!(
            by_record(&at("old", url), &cursors, &["old"]),
            Some(("old".into(), None))
        );
        assert_eq!(
            by_record(&at("older", "https://elsewhere/"), &cursors, &["older"]),
            Some(("old".into(), Some(Recognised::RecordedName)))
        );
        assert_eq!(
            by_record(&at("new", url), &cursors, &["new"]),
            Some(("old".into(), Some(Recognised::RegistryUrl)))
        );
        // Still listed under its own id: a second registry at a similar URL is its own.
        assert_eq!(by_record(&at("new", url), &cursors, &["new", "old"]), None);
        assert_eq!(
            by_record(&at("new", "https://h/registries/y/v3/"), &cursors, &["new"]),
            None
        );
    }
}
