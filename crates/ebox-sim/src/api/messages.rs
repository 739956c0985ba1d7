//! `/ebox`: the summary, the message list, a message and what hangs under it.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::params::{self, Filters, Page};
use super::{ApiError, ApiResult, Call, RegistryPath, S, bad_request, not_found};
use crate::Shared;
use crate::faults::Route;
use crate::model::{ApiVersion, Message, RawItem, RenderContext, datetime};

#[derive(Deserialize)]
pub(super) struct MessagePath {
    id: String,
}

#[derive(Deserialize)]
pub(super) struct AttachmentPath {
    pub(super) id: String,
    pub(super) att: String,
}

/// One item of a message list: a message, or something listed that is none.
pub(crate) enum Listed<'a> {
    Message(&'a Message),
    Raw(&'a RawItem),
}

impl Listed<'_> {
    pub(crate) fn json(&self, at: &RenderContext) -> Bytes {
        match self {
            Listed::Message(m) => m.json_bytes(at),
            Listed::Raw(r) => Bytes::from(r.raw.to_string()),
        }
    }
}

/// Merges two lists that are each newest first into one.
pub(crate) fn newest_first<'a>(
    messages: impl Iterator<Item = &'a Message>,
    raw: impl Iterator<Item = &'a RawItem>,
) -> Vec<Listed<'a>> {
    let mut raw = raw.peekable();
    let mut merged = Vec::new();
    for m in messages {
        while let Some(r) = raw.next_if(|r| r.received_at > m.receipt) {
            merged.push(Listed::Raw(r));
        }
        merged.push(Listed::Message(m));
    }
    merged.extend(raw.map(Listed::Raw));
    merged
}

/// `{"items":[...],"totalItems":n}` from items already rendered.
fn list_text(items: &[Bytes], total: usize) -> String {
    let mut text = String::with_capacity(64 + items.iter().map(Bytes::len).sum::<usize>());
    text.push_str("{\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(std::str::from_utf8(item).expect("rendered JSON is UTF-8"));
    }
    text.push_str(&format!("],\"totalItems\":{total}}}"));
    text
}

impl Shared {
    /// One page of an e-Box's list; None when the page holds nothing.
    fn list_page(&self, call: &Call, filters: &Filters, page: Page) -> Option<String> {
        let world = self.world.read().unwrap();
        let now = world.now();
        let key = (call.registry.provider.clone(), call.enterprise.clone());
        let messages = world.boxes.get(&key).map(Vec::as_slice).unwrap_or_default();
        let raw = world.raw_items.get(&key).map(Vec::as_slice).unwrap_or_default();
        let selected = newest_first(
            messages.iter().filter(|m| m.expiration > now && filters.admits(m)),
            raw.iter().filter(|r| filters.admits_raw(r)),
        );
        let render = call.registry.render(&call.enterprise);
        let items: Vec<Bytes> = selected
            .iter()
            .skip(page.skip)
            .take(page.take)
            .map(|item| item.json(&render))
            .collect();
        (!items.is_empty()).then(|| list_text(&items, selected.len()))
    }

    /// The summary counts every item there is: hidden messages too (which the list
    /// leaves out unless asked), unreadable items as unread.
    fn summary_json(&self, call: &Call) -> Value {
        let world = self.world.read().unwrap();
        let now = world.now();
        let key = (call.registry.provider.clone(), call.enterprise.clone());
        let messages: Vec<&Message> = world
            .boxes
            .get(&key)
            .map(|l| l.iter().filter(|m| m.expiration > now).collect())
            .unwrap_or_default();
        let raw = world.raw_items.get(&key).map(Vec::as_slice).unwrap_or_default();
        let unread = messages.iter().filter(|m| !m.read).count() + raw.len();
        let size: f64 = messages
            .iter()
            .flat_map(|m| &m.attachments)
            .map(|a| a.content.len() as f64 / 1024.0)
            .sum();
        let mut v = json!({
            "numberOfMessages": messages.len() + raw.len(),
            "numberOfUnreadMessages": unread,
            "eboxSize": size,
        });
        let last = messages
            .first()
            .map(|m| m.receipt)
            .max(raw.first().map(|r| r.received_at));
        if let Some(last) = last {
            v["lastReceiptDate"] = json!(datetime(last));
        }
        v
    }
}

pub(super) async fn summary(State(shared): S, Path(at): Path<RegistryPath>, headers: HeaderMap) -> ApiResult {
    let call = shared.begin(Route::Summary, &at, &headers).await?;
    let value = shared.summary_json(&call);
    Ok(shared.respond(Route::Summary, &call.enterprise, &call.effects, &value))
}

pub(super) async fn list(
    State(shared): S,
    Path(at): Path<RegistryPath>,
    Query(q): Query<params::Query>,
    headers: HeaderMap,
) -> ApiResult {
    let call = shared.begin(Route::List, &at, &headers).await?;
    let page = Page::parse(&q, call.registry.page_limit)?;
    let filters = Filters::parse(&q, call.registry.version)?;
    if call.effects.shift_page {
        shared.arrive(&call.registry.provider, &call.enterprise);
    }
    match shared.list_page(&call, &filters, page) {
        Some(mut text) => {
            if call.effects.omit_total
                && let Some(at) = text.rfind("],\"totalItems\":")
            {
                text.truncate(at + 1);
                text.push('}');
            }
            Ok(shared.respond_text(Route::List, &call.enterprise, &call.effects, text))
        }
        None => {
            // As the 2.1 YAML documents it, not as an empty list: a page with nothing on
            // it, past the end or of an empty e-Box, is a 404.
            shared.count(Route::List, &call.enterprise, 0);
            Err(not_found("No messages found"))
        }
    }
}

/// The `(messageId, visible)` pairs of a PATCH body; v3 may name it `isVisible`.
fn visibility_changes(body: &[u8], version: ApiVersion) -> Result<Vec<(String, bool)>, ApiError> {
    let update: Value = serde_json::from_slice(body).map_err(|e| bad_request(format!("body is not JSON: {e}")))?;
    let items = update["items"]
        .as_array()
        .ok_or_else(|| bad_request("items is required".into()))?;
    let visible_name = version.names().visible;
    items
        .iter()
        .map(|item| {
            let id = item["messageId"]
                .as_str()
                .ok_or_else(|| bad_request("messageId is required".into()))?;
            let visible = item[visible_name]
                .as_bool()
                .or(item["visible"].as_bool())
                .ok_or_else(|| bad_request(format!("{visible_name} is required")))?;
            Ok((id.to_owned(), visible))
        })
        .collect()
}

pub(super) async fn patch(
    State(shared): S,
    Path(at): Path<RegistryPath>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let call = shared.begin(Route::Patch, &at, &headers).await?;
    let (provider, enterprise) = (&call.registry.provider, &call.enterprise);
    let changes = visibility_changes(&body, call.registry.version)?;
    // All or nothing: every message must exist before any changes.
    for (id, _) in &changes {
        shared.with_message(provider, enterprise, id, |_| ())?;
    }
    for (id, visible) in changes {
        shared.update_message(provider, enterprise, &id, |m, _| m.visible = visible);
    }
    shared.count(Route::Patch, enterprise, 0);
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn message(
    State(shared): S,
    Path(at): Path<RegistryPath>,
    Path(p): Path<MessagePath>,
    headers: HeaderMap,
) -> ApiResult {
    let call = shared.begin(Route::Message, &at, &headers).await?;
    let Call { registry, .. } = &call;
    let render = registry.render(&call.enterprise);
    let value = shared.with_message(&registry.provider, &call.enterprise, &p.id, |m| m.to_json(&render))?;
    Ok(shared.respond(Route::Message, &call.enterprise, &call.effects, &value))
}

pub(super) async fn attachments(
    State(shared): S,
    Path(at): Path<RegistryPath>,
    Path(p): Path<MessagePath>,
    headers: HeaderMap,
) -> ApiResult {
    let call = shared.begin(Route::Attachments, &at, &headers).await?;
    let Call { registry, .. } = &call;
    let value = shared.with_message(&registry.provider, &call.enterprise, &p.id, |m| {
        m.attachments_json(&registry.url, registry.version)
    })?;
    Ok(shared.respond(Route::Attachments, &call.enterprise, &call.effects, &value))
}

pub(super) fn attachment_not_found(att: &str) -> ApiError {
    not_found(format!("attachment {att} not found"))
}

/// Attachment routes take the id the registry knows, listed as `attachmentId` or not.
pub(super) async fn attachment(
    State(shared): S,
    Path(at): Path<RegistryPath>,
    Path(p): Path<AttachmentPath>,
    headers: HeaderMap,
) -> ApiResult {
    let call = shared.begin(Route::Attachment, &at, &headers).await?;
    let Call { registry, .. } = &call;
    let href = format!("{}/ebox/messages/{}", registry.url, crate::model::segment(&p.id));
    let value = shared
        .with_message(&registry.provider, &call.enterprise, &p.id, |m| {
            m.attachments
                .iter()
                .find(|a| a.id == p.att)
                .map(|a| a.to_json(&href, registry.version))
        })?
        .ok_or_else(|| attachment_not_found(&p.att))?;
    Ok(shared.respond(Route::Attachment, &call.enterprise, &call.effects, &value))
}

/// The body, annex or main content; 404 when there is none, which nothing in the
/// message's metadata announces.
pub(super) async fn body(
    State(shared): S,
    Path(at): Path<RegistryPath>,
    Path(p): Path<MessagePath>,
    headers: HeaderMap,
) -> ApiResult {
    let call = shared.begin(Route::Body, &at, &headers).await?;
    let (provider, enterprise) = (&call.registry.provider, &call.enterprise);
    let (body, main) = shared.with_message(provider, enterprise, &p.id, |m| (m.body.clone(), m.body_is_main()))?;
    let body = body.ok_or_else(|| not_found(format!("message {} has no body", p.id)))?;
    if main {
        shared.update_message(provider, enterprise, &p.id, |m, _| m.read = true);
    }
    Ok(shared.respond(Route::Body, enterprise, &call.effects, &json!(body)))
}

pub(super) async fn payment_data(
    State(shared): S,
    Path(at): Path<RegistryPath>,
    Path(p): Path<MessagePath>,
    headers: HeaderMap,
) -> ApiResult {
    let call = shared.begin(Route::PaymentData, &at, &headers).await?;
    let payment = shared
        .with_message(&call.registry.provider, &call.enterprise, &p.id, |m| {
            m.payment_data.clone()
        })?
        .ok_or_else(|| not_found(format!("message {} has no payment data", p.id)))?;
    Ok(shared.respond(Route::PaymentData, &call.enterprise, &call.effects, &payment))
}
