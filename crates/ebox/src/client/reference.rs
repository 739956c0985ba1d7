//! The names behind the ids in messages, looked up only when a message that is being
//! delivered needs them: by id first (as the portal does), the whole list when a registry
//! has no lookup by id. Kept per provider for every entity of a warm process. Reference
//! data never blocks a delivery: when it fails, the name is left out and reference data
//! is not asked again for a while.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::time::Instant;

use super::{Session, endpoint};
use crate::error::EboxError;
use crate::model::{MessageProvider, ReferenceKind, Translated};

type Names = HashMap<String, Translated>;
/// What was learnt about a key, and when: kept for `reference_cache_ttl`.
type Learnt<K, V> = Mutex<HashMap<K, (Instant, V)>>;

#[derive(Default)]
pub(super) struct Cache {
    /// (registry URL, kind, id) -> the name, or None when the registry has none for it.
    names: Learnt<(String, ReferenceKind, String), Option<Translated>>,
    /// (registry URL, kind) -> the whole list, for registries without lookups by id.
    lists: Learnt<(String, ReferenceKind), Arc<Names>>,
    /// Registry URL -> not asked again before.
    paused: Mutex<HashMap<String, Instant>>,
    /// Registry URL -> the path its reference data answered under.
    paths: Mutex<HashMap<String, &'static str>>,
}

/// Where reference data is: the documented path first; one newer provider document
/// writes `refData`, and which one a given v3 registry answers is not settled.
const PATHS: [&str; 2] = ["referenceData", "refData"];

impl Session {
    /// The name behind `id`, when reference data has one; never an error.
    pub async fn reference_name(
        &self,
        provider: &MessageProvider,
        kind: ReferenceKind,
        id: &str,
    ) -> Option<Translated> {
        let cache = &self.ebox.inner.reference;
        let registry = provider.message_provider_url.clone();
        let key = (registry.clone(), kind, id.to_owned());
        if let Some((at, name)) = cache.names.lock().unwrap().get(&key)
            && at.elapsed() < self.config().reference_cache_ttl
        {
            return name.clone();
        }
        let paused = cache.paused.lock().unwrap().get(&registry).copied();
        if paused.is_some_and(|until| Instant::now() < until) {
            return None;
        }
        // Bounded: a slow registry costs a delivery seconds at most, then is paused.
        let budget = self.config().reference_timeout;
        let found = tokio::time::timeout(budget, self.find_name(provider, kind, id))
            .await
            .unwrap_or_else(|_| {
                Err(EboxError::Timeout {
                    what: format!("reference data {} {id}", kind.path()),
                })
            });
        match found {
            Ok(name) => {
                cache.names.lock().unwrap().insert(key, (Instant::now(), name.clone()));
                name
            }
            Err(e) => {
                tracing::warn!(provider = %provider.message_provider_id, error = %e, "reference data unavailable; names are left out for now");
                let until = Instant::now() + self.config().reference_pause;
                cache.paused.lock().unwrap().insert(registry, until);
                None
            }
        }
    }

    /// Under the path this registry answered before, else under each in turn: a path
    /// the registry does not serve answers 404 to the list as well.
    async fn find_name(
        &self,
        provider: &MessageProvider,
        kind: ReferenceKind,
        id: &str,
    ) -> Result<Option<Translated>, EboxError> {
        let cache = &self.ebox.inner.reference;
        let registry = &provider.message_provider_url;
        let known = cache.paths.lock().unwrap().get(registry).copied();
        let order = match known {
            Some(path) => [path, PATHS.into_iter().find(|p| *p != path).unwrap_or(path)],
            None => PATHS,
        };
        let mut last = None;
        for path in order {
            // By id, else in the list: no lookup by id here, or not under this id.
            let found = match self.lookup(provider, path, kind, id).await {
                Ok(None) | Err(EboxError::NotFound { .. }) | Err(EboxError::Refused { .. }) => self
                    .reference_list(provider, path, kind)
                    .await
                    .map(|names| names.get(id).cloned()),
                other => other,
            };
            match found {
                Err(e @ EboxError::NotFound { .. }) => last = Some(e),
                Err(e) => return Err(e),
                Ok(found) => {
                    if known != Some(path) {
                        tracing::info!(provider = %provider.message_provider_id, path, "reference data answers here");
                        cache.paths.lock().unwrap().insert(registry.clone(), path);
                    }
                    return Ok(found);
                }
            }
        }
        Err(last.expect("two paths tried"))
    }

    async fn lookup(
        &self,
        provider: &MessageProvider,
        path: &str,
        kind: ReferenceKind,
        id: &str,
    ) -> Result<Option<Translated>, EboxError> {
        let url = endpoint(&provider.message_provider_url, &[path, kind.path(), id])?;
        let answer: Value = self
            .get_json(&format!("reference data {} {id}", kind.path()), &url, &[])
            .await?;
        // The item itself, or a list holding it.
        let item = match answer.get("items") {
            Some(Value::Array(items)) => items.first().cloned().unwrap_or(Value::Null),
            _ => answer,
        };
        // Only a name of the id asked for.
        Ok(kind
            .read_item(&item)
            .filter(|(found, _)| found == id)
            .map(|(_, name)| name))
    }

    async fn reference_list(
        &self,
        provider: &MessageProvider,
        path: &str,
        kind: ReferenceKind,
    ) -> Result<Arc<Names>, EboxError> {
        let cache = &self.ebox.inner.reference;
        let key = (provider.message_provider_url.clone(), kind);
        if let Some((at, names)) = cache.lists.lock().unwrap().get(&key)
            && at.elapsed() < self.config().reference_cache_ttl
        {
            return Ok(names.clone());
        }
        let url = endpoint(&provider.message_provider_url, &[path, kind.path()])?;
        let items = self.paged(&format!("reference data {}", kind.path()), &url).await?;
        let names: Names = items.iter().filter_map(|item| kind.read_item(item)).collect();
        let names = Arc::new(names);
        cache.lists.lock().unwrap().insert(key, (Instant::now(), names.clone()));
        Ok(names)
    }
}
