//! `/referenceData/{kind}` (or `/refData/{kind}`) and its `{id}` lookups: the names
//! behind a message's ids. Each registry answers under one of the two only: by default
//! `refData` in v3, `referenceData` in v2.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::params::{self, Page};
use super::{ApiError, ApiResult, Call, RegistryPath, S, not_found};
use crate::Shared;
use crate::faults::Route;
use crate::model::{ReferenceData, ReferenceItem};

/// Providers must send cache headers on reference data; two days is what is recommended.
const CACHE_CONTROL: &str = "max-age=172800";

#[derive(Deserialize)]
pub(super) struct ReferencePath {
    section: String,
    kind: String,
}

#[derive(Deserialize)]
pub(super) struct ReferenceItemPath {
    section: String,
    kind: String,
    id: String,
}

impl Shared {
    /// A reference data call: 404 (before the token is looked at, as for an unknown
    /// route) when the registry does not serve reference data under `section`.
    async fn begin_reference(&self, at: &RegistryPath, section: &str, headers: &HeaderMap) -> Result<Call, ApiError> {
        let registry = self.registry(Route::ReferenceData, at)?;
        if registry.reference_path != section {
            return Err(not_found(format!("no {section} at provider {}", at.provider)));
        }
        let (enterprise, effects) = self
            .admit(Route::ReferenceData, Some(&registry.provider), headers)
            .await?;
        Ok(Call {
            registry,
            enterprise,
            effects,
        })
    }
}

type Render = fn(&ReferenceItem) -> Value;

fn reference_kind(reference: &ReferenceData, kind: &str) -> Result<(Vec<ReferenceItem>, Render), ApiError> {
    match kind {
        "messageTypes" => Ok((reference.message_types.clone(), ReferenceData::message_type_json)),
        "senderOrganizations" => Ok((
            reference.sender_organizations.clone(),
            ReferenceData::sender_organization_json,
        )),
        "senderApplications" => Ok((
            reference.sender_applications.clone(),
            ReferenceData::sender_application_json,
        )),
        _ => Err(not_found(format!("no reference data {kind}"))),
    }
}

fn cached(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
    response
}

/// Paged as the message list is (short pages, offset by the size asked), but a page
/// with nothing on it is an empty list, not a 404.
pub(super) async fn list(
    State(shared): S,
    Path(at): Path<RegistryPath>,
    Path(p): Path<ReferencePath>,
    Query(q): Query<params::Query>,
    headers: HeaderMap,
) -> ApiResult {
    let call = shared.begin_reference(&at, &p.section, &headers).await?;
    let page = Page::parse(&q, call.registry.page_limit)?;
    let (items, render) = reference_kind(&shared.world.read().unwrap().reference, &p.kind)?;
    let page_items: Vec<Value> = items.iter().skip(page.skip).take(page.take).map(render).collect();
    let value = json!({"items": page_items, "totalItems": items.len()});
    let response = shared.respond(Route::ReferenceData, &call.enterprise, &call.effects, &value);
    Ok(cached(response))
}

pub(super) async fn item(
    State(shared): S,
    Path(at): Path<RegistryPath>,
    Path(p): Path<ReferenceItemPath>,
    headers: HeaderMap,
) -> ApiResult {
    let call = shared.begin_reference(&at, &p.section, &headers).await?;
    let (items, render) = reference_kind(&shared.world.read().unwrap().reference, &p.kind)?;
    let value = items
        .iter()
        .find(|i| i.id == p.id)
        .map(render)
        .ok_or_else(|| not_found(format!("{} {} not found", p.kind, p.id)))?;
    let response = shared.respond(Route::ReferenceData, &call.enterprise, &call.effects, &value);
    Ok(cached(response))
}
