//! Provider discovery, in both shapes that exist side by side: the older Provider
//! Registry (a JSON array of MessageProvider) and the current Document Provider Registry
//! (a paged-looking object whose entries use other names). Both count as `providers`.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::{ApiResult, S, not_found};
use crate::faults::Route;
use crate::model::Provider;

/// Every provider, rendered; inactive ones included, as consumers must skip them.
fn rendered(shared: &crate::Shared, render: fn(&Provider, &str) -> Value) -> Vec<Value> {
    let world = shared.world.read().unwrap();
    world
        .providers
        .iter()
        .map(|p| render(p, &shared.base_url))
        .chain(world.raw_provider_entries.iter().cloned())
        .collect()
}

pub(super) async fn message_providers(State(shared): S, headers: HeaderMap) -> ApiResult {
    let (enterprise, effects) = shared.admit(Route::Providers, None, &headers).await?;
    let list = rendered(&shared, Provider::message_provider_json);
    Ok(shared.respond(Route::Providers, &enterprise, &effects, &Value::Array(list)))
}

/// One provider of the older list, by the `messageProviderId` that list gives it.
pub(super) async fn message_provider(State(shared): S, Path(id): Path<String>, headers: HeaderMap) -> ApiResult {
    let (enterprise, effects) = shared.admit(Route::Providers, None, &headers).await?;
    let found = shared
        .world
        .read()
        .unwrap()
        .providers
        .iter()
        .find(|p| p.legacy_id() == id)
        .map(|p| p.message_provider_json(&shared.base_url))
        .ok_or_else(|| not_found(format!("provider {id} not found")))?;
    Ok(shared.respond(Route::Providers, &enterprise, &effects, &found))
}

/// The Document Provider Registry; see [`Provider::message_registry_json`] for the
/// entries' names.
pub(super) async fn message_registries(State(shared): S, headers: HeaderMap) -> ApiResult {
    let (enterprise, effects) = shared.admit(Route::Providers, None, &headers).await?;
    let items = rendered(&shared, Provider::message_registry_json);
    let value = json!({"totalItems": items.len(), "items": items});
    Ok(shared.respond(Route::Providers, &enterprise, &effects, &value))
}
