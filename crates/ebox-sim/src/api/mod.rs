//! The e-Box routes: token endpoint, provider registry, message registries.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::auth::{OAuthError, TokenRequestCheck};
use crate::data::{CONSULT_SCOPE, REGISTRY_SCOPE};
use crate::faults::{Effects, Route};
use crate::model::{Content, Message, ReferenceData, ReferenceItem};
use crate::{PROVIDERS_PATH, Shared, TOKEN_PATH, Token};

type S = State<Arc<Shared>>;

pub fn router(shared: Arc<Shared>) -> Router {
    let registry = "/registries/{provider}";
    Router::new()
        .route(TOKEN_PATH, post(token))
        .route(PROVIDERS_PATH, get(providers))
        .route(&format!("{PROVIDERS_PATH}/{{id}}"), get(provider))
        .route(&format!("{registry}/ebox"), get(summary))
        .route(&format!("{registry}/ebox/messages"), get(list).patch(patch))
        .route(&format!("{registry}/ebox/messages/{{id}}"), get(message))
        .route(
            &format!("{registry}/ebox/messages/{{id}}/attachments"),
            get(attachments),
        )
        .route(
            &format!("{registry}/ebox/messages/{{id}}/attachments/{{att}}"),
            get(attachment),
        )
        .route(
            &format!("{registry}/ebox/messages/{{id}}/attachments/{{att}}/content"),
            get(content),
        )
        .route(&format!("{registry}/ebox/messages/{{id}}/body"), get(body))
        .route(
            &format!("{registry}/ebox/messages/{{id}}/paymentData"),
            get(payment_data),
        )
        .route(&format!("{registry}/referenceData/{{kind}}"), get(reference_list))
        .route(
            &format!("{registry}/referenceData/{{kind}}/{{id}}"),
            get(reference_item),
        )
        .with_state(shared)
}

/// A `StatusMessage` error answer.
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<String>,
}

pub(crate) fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        message: message.into(),
        retry_after: None,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "code": self.code,
            "message": self.message,
            "contact": "eboxintegration@example.invalid",
            "environment": "simulation",
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(r) = self.retry_after.and_then(|r| HeaderValue::from_str(&r).ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, r);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response
    }
}

type ApiResult = Result<Response, ApiError>;

fn status_fault(status: u16, retry_after: Option<String>) -> ApiError {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    ApiError {
        status,
        code: "SIMULATED_FAULT",
        message: format!("simulated {status}"),
        retry_after,
    }
}

impl Shared {
    /// Checks the bearer token and its scope; returns the token's enterprise.
    fn authorize(&self, headers: &HeaderMap, scope: &str) -> Result<String, ApiError> {
        let unauthorized = |m: &str| error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", m);
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized("an access token is required"))?;
        let now = self.now();
        let mut tokens = self.tokens.lock().unwrap();
        let token = tokens
            .get_mut(presented)
            .ok_or_else(|| unauthorized("the access token is not valid"))?;
        if token.expires_at <= now {
            return Err(unauthorized("the access token has expired"));
        }
        if let Some(left) = token.calls_left.as_mut() {
            if *left == 0 {
                return Err(unauthorized("the access token has expired"));
            }
            *left -= 1;
        }
        if !token.scopes.contains(scope) {
            return Err(error(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                format!("the access token lacks scope {scope}"),
            ));
        }
        Ok(token.enterprise.clone())
    }

    /// What every registry call goes through: the provider must exist, be active and not
    /// in maintenance; the token must be valid; then the faults for this route apply.
    async fn begin(
        &self,
        route: Route,
        provider: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<(String, Effects), ApiError> {
        if let Some(provider) = provider {
            let world = self.world.read().unwrap();
            let now = world.now();
            let p = world
                .providers
                .iter()
                .find(|p| p.id == provider)
                .filter(|p| p.active_on(now.date_naive()))
                .ok_or_else(|| {
                    error(
                        StatusCode::NOT_FOUND,
                        "NOT_FOUND",
                        format!("no active provider {provider}"),
                    )
                })?;
            if p.in_maintenance(now) {
                drop(world);
                self.count(route, "-", 0);
                return Err(error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "MAINTENANCE",
                    format!("provider {provider} is in planned maintenance"),
                ));
            }
        }
        let scope = if route == Route::Providers {
            REGISTRY_SCOPE
        } else {
            CONSULT_SCOPE
        };
        let enterprise = match self.authorize(headers, scope) {
            Ok(e) => e,
            Err(e) => {
                self.count(route, "-", 0);
                return Err(e);
            }
        };
        let effects = self.effects(route, provider, Some(&enterprise));
        if effects.latency_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(effects.latency_ms)).await;
        }
        if let Some((status, retry_after)) = effects.status.clone() {
            self.count(route, &enterprise, 0);
            return Err(status_fault(status, retry_after));
        }
        Ok((enterprise, effects))
    }

    fn respond(&self, route: Route, enterprise: &str, effects: &Effects, value: &Value) -> Response {
        self.respond_text(route, enterprise, effects, value.to_string())
    }

    fn respond_text(&self, route: Route, enterprise: &str, effects: &Effects, mut text: String) -> Response {
        if effects.malformed_json {
            let cut = text.char_indices().nth(text.chars().count() / 2).map_or(0, |(i, _)| i);
            text.truncate(cut);
        }
        self.count(route, enterprise, text.len() as u64);
        ([(header::CONTENT_TYPE, "application/json")], text).into_response()
    }

    fn registry_url(&self, provider: &str) -> String {
        format!("{}/registries/{provider}", self.base_url)
    }

    fn with_message<T>(
        &self,
        provider: &str,
        enterprise: &str,
        id: &str,
        f: impl FnOnce(&Message) -> T,
    ) -> Result<T, ApiError> {
        let world = self.world.read().unwrap();
        let now = world.now();
        world
            .boxes
            .get(&(provider.to_owned(), enterprise.to_owned()))
            .and_then(|list| list.iter().find(|m| m.id == id))
            .filter(|m| m.expiration > now)
            .map(f)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, "NOT_FOUND", format!("message {id} not found")))
    }
}

async fn token(State(shared): S, body: Bytes) -> Response {
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let oauth_error = |status: StatusCode, e: OAuthError| {
        (
            status,
            axum::Json(json!({"error": e.error, "error_description": e.description})),
        )
            .into_response()
    };
    let effects = shared.effects(Route::Token, None, None);
    if effects.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(effects.latency_ms)).await;
    }
    if let Some((status, retry_after)) = effects.status {
        shared.count(Route::Token, "-", 0);
        return status_fault(status, retry_after).into_response();
    }
    let granted = {
        let mut world = shared.world.write().unwrap();
        let now = world.now();
        let audience = shared.audience();
        let crate::World { clients, seen_jti, .. } = &mut *world;
        TokenRequestCheck {
            clients,
            seen_jti,
            audience: &audience,
            now,
            max_lifetime: shared.config.max_assertion_lifetime,
        }
        .check(&form)
    };
    let granted = match granted {
        Ok(g) => g,
        Err(e) => {
            shared.count(Route::Token, "-", 0);
            return oauth_error(StatusCode::BAD_REQUEST, e);
        }
    };
    let access_token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let lifetime = shared.config.token_lifetime;
    let scope = granted.scopes.iter().cloned().collect::<Vec<_>>().join(" ");
    shared.tokens.lock().unwrap().insert(
        access_token.clone(),
        Token {
            enterprise: granted.enterprise.clone(),
            scopes: granted.scopes,
            expires_at: shared.now() + lifetime,
            calls_left: effects.token_calls,
        },
    );
    let body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime.num_seconds(),
        "scope": scope,
    });
    shared.count(Route::Token, &granted.enterprise, 0);
    axum::Json(body).into_response()
}

async fn providers(State(shared): S, headers: HeaderMap) -> ApiResult {
    let (enterprise, effects) = shared.begin(Route::Providers, None, &headers).await?;
    let list: Vec<Value> = shared
        .world
        .read()
        .unwrap()
        .providers
        .iter()
        .map(|p| p.to_json(&shared.base_url))
        .collect();
    Ok(shared.respond(Route::Providers, &enterprise, &effects, &Value::Array(list)))
}

async fn provider(State(shared): S, Path(id): Path<String>, headers: HeaderMap) -> ApiResult {
    let (enterprise, effects) = shared.begin(Route::Providers, None, &headers).await?;
    let found = shared
        .world
        .read()
        .unwrap()
        .providers
        .iter()
        .find(|p| p.id == id)
        .map(|p| p.to_json(&shared.base_url))
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "NOT_FOUND", format!("provider {id} not found")))?;
    Ok(shared.respond(Route::Providers, &enterprise, &effects, &found))
}

async fn summary(State(shared): S, Path(provider): Path<String>, headers: HeaderMap) -> ApiResult {
    let (enterprise, effects) = shared.begin(Route::Summary, Some(&provider), &headers).await?;
    let value = {
        let world = shared.world.read().unwrap();
        let now = world.now();
        let list: Vec<&Message> = world
            .boxes
            .get(&(provider.clone(), enterprise.clone()))
            .map(|l| l.iter().filter(|m| m.expiration > now).collect())
            .unwrap_or_default();
        let mut v = json!({
            "numberOfMessages": list.len(),
            "numberOfUnreadMessages": list.iter().filter(|m| !m.read).count(),
            "eboxSize": list.iter().flat_map(|m| &m.attachments).map(|a| a.content.len() as f64 / 1024.0).sum::<f64>(),
        });
        if let Some(m) = list.first() {
            v["lastReceiptDate"] = json!(crate::model::datetime(m.receipt));
        }
        v
    };
    Ok(shared.respond(Route::Summary, &enterprise, &effects, &value))
}

fn bad_request(message: String) -> ApiError {
    error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", message)
}

fn int_param(q: &HashMap<String, String>, name: &str, default: usize, max: usize) -> Result<usize, ApiError> {
    match q.get(name) {
        None => Ok(default),
        Some(raw) => match raw.parse::<usize>() {
            Ok(v) if (1..=max).contains(&v) => Ok(v),
            _ => Err(bad_request(format!("{name}={raw} must be an integer from 1 to {max}"))),
        },
    }
}

fn date_param(q: &HashMap<String, String>, name: &str) -> Result<Option<NaiveDate>, ApiError> {
    q.get(name)
        .map(|raw| {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map_err(|_| bad_request(format!("{name}={raw} must be a date (YYYY-MM-DD)")))
        })
        .transpose()
}

fn bool_param(q: &HashMap<String, String>, name: &str) -> Result<Option<bool>, ApiError> {
    q.get(name)
        .map(|raw| match raw.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(bad_request(format!("{name}={raw} must be true or false"))),
        })
        .transpose()
}

async fn list(
    State(shared): S,
    Path(provider): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult {
    let page = int_param(&q, "page", 1, i32::MAX as usize)?;
    let page_size = int_param(&q, "pageSize", 25, 100)?;
    let received_after = date_param(&q, "receivedAfter")?;
    let received_before = date_param(&q, "receivedBefore")?;
    let expired_after = date_param(&q, "expiredAfter")?;
    let expired_before = date_param(&q, "expiredBefore")?;
    let visible = bool_param(&q, "visible")?;
    let read_status = bool_param(&q, "readStatus")?;
    let registered = bool_param(&q, "registeredMail")?;
    let (enterprise, effects) = shared.begin(Route::List, Some(&provider), &headers).await?;
    if effects.shift_page {
        shared.arrive(&provider, &enterprise);
    }
    let registry_url = shared.registry_url(&provider);
    let value = {
        let world = shared.world.read().unwrap();
        let now = world.now();
        let empty = Vec::new();
        let all = world
            .boxes
            .get(&(provider.clone(), enterprise.clone()))
            .unwrap_or(&empty);
        let text = |name: &str| q.get(name).map(String::as_str);
        let selected: Vec<&Message> = all
            .iter()
            .filter(|m| m.expiration > now)
            // Dates, not date-times: "after" and "before" a day exclude that day.
            .filter(|m| received_after.is_none_or(|d| m.receipt.date_naive() > d))
            .filter(|m| received_before.is_none_or(|d| m.receipt.date_naive() < d))
            .filter(|m| expired_after.is_none_or(|d| m.expiration.date_naive() > d))
            .filter(|m| expired_before.is_none_or(|d| m.expiration.date_naive() < d))
            .filter(|m| visible.is_none_or(|v| m.visible == v))
            .filter(|m| read_status.is_none_or(|v| m.read == v))
            .filter(|m| registered.is_none_or(|v| m.registered_mail == v))
            .filter(|m| text("messageTypeId").is_none_or(|v| m.message_type_id == v))
            .filter(|m| text("senderOrganizationId").is_none_or(|v| m.sender_organization_id == v))
            .filter(|m| text("senderApplicationId").is_none_or(|v| m.sender_application_id.as_deref() == Some(v)))
            .collect();
        let mut body = String::with_capacity(64 + page_size * 2048);
        body.push_str("{\"items\":[");
        for (i, m) in selected
            .iter()
            .skip((page - 1).saturating_mul(page_size))
            .take(page_size)
            .enumerate()
        {
            if i > 0 {
                body.push(',');
            }
            body.push_str(std::str::from_utf8(&m.json_bytes(&registry_url)).expect("rendered JSON is UTF-8"));
        }
        body.push_str(&format!("],\"totalItems\":{}}}", selected.len()));
        body
    };
    Ok(shared.respond_text(Route::List, &enterprise, &effects, value))
}

async fn patch(State(shared): S, Path(provider): Path<String>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let (enterprise, _) = shared.begin(Route::Patch, Some(&provider), &headers).await?;
    let update: Value = serde_json::from_slice(&body).map_err(|e| bad_request(format!("body is not JSON: {e}")))?;
    let items = update["items"]
        .as_array()
        .ok_or_else(|| bad_request("items is required".into()))?;
    let mut changes = Vec::new();
    for item in items {
        let id = item["messageId"]
            .as_str()
            .ok_or_else(|| bad_request("messageId is required".into()))?;
        let visible = item["visible"]
            .as_bool()
            .ok_or_else(|| bad_request("visible is required".into()))?;
        changes.push((id.to_owned(), visible));
    }
    for (id, _) in &changes {
        shared.with_message(&provider, &enterprise, id, |_| ())?;
    }
    for (id, visible) in changes {
        shared.update_message(&provider, &enterprise, &id, |m, _| m.visible = visible);
    }
    shared.count(Route::Patch, &enterprise, 0);
    Ok(StatusCode::OK.into_response())
}

async fn message(State(shared): S, Path((provider, id)): Path<(String, String)>, headers: HeaderMap) -> ApiResult {
    let (enterprise, effects) = shared.begin(Route::Message, Some(&provider), &headers).await?;
    let registry_url = shared.registry_url(&provider);
    let value = shared.with_message(&provider, &enterprise, &id, |m| m.to_json(&registry_url))?;
    Ok(shared.respond(Route::Message, &enterprise, &effects, &value))
}

async fn attachments(State(shared): S, Path((provider, id)): Path<(String, String)>, headers: HeaderMap) -> ApiResult {
    let (enterprise, effects) = shared.begin(Route::Attachments, Some(&provider), &headers).await?;
    let registry_url = shared.registry_url(&provider);
    let value = shared.with_message(&provider, &enterprise, &id, |m| {
        m.to_json(&registry_url)["attachments"].clone()
    })?;
    Ok(shared.respond(Route::Attachments, &enterprise, &effects, &value))
}

async fn attachment(
    State(shared): S,
    Path((provider, id, att)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let (enterprise, effects) = shared.begin(Route::Attachment, Some(&provider), &headers).await?;
    let href = format!("{}/ebox/messages/{id}", shared.registry_url(&provider));
    let value = shared
        .with_message(&provider, &enterprise, &id, |m| {
            m.attachments.iter().find(|a| a.id == att).map(|a| a.to_json(&href))
        })?
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("attachment {att} not found"),
            )
        })?;
    Ok(shared.respond(Route::Attachment, &enterprise, &effects, &value))
}

async fn content(
    State(shared): S,
    Path((provider, id, att)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let (enterprise, effects) = shared.begin(Route::Content, Some(&provider), &headers).await?;
    let (content, main) = shared
        .with_message(&provider, &enterprise, &id, |m| {
            m.attachments
                .iter()
                .find(|a| a.id == att)
                .map(|a| (a.content.clone(), a.main_content))
        })?
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("attachment {att} not found"),
            )
        })?;
    if main {
        // Retrieving the main content is what makes a message "read".
        shared.update_message(&provider, &enterprise, &id, |m, _| m.read = true);
    }
    let length = content.len();
    // A truncated answer is complete in itself (its Content-Length matches) but shorter
    // than the attachment: only the size and the digest can tell.
    let served = effects.truncate_after.map_or(length, |cut| cut.min(length));
    shared.count(Route::Content, &enterprise, served);
    let stream = content_stream(content, effects);
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(served));
    Ok(response)
}

/// The content's chunks, with the faults applied: a flipped byte, a cut, a reset.
fn content_stream(
    content: Content,
    effects: Effects,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let cut = effects.reset_after.or(effects.truncate_after).unwrap_or(u64::MAX);
    let wrong_digest = effects.wrong_digest;
    let chunks = futures::stream::iter(0..content.chunks()).scan(0u64, move |sent, index| {
        if *sent >= cut {
            return std::future::ready(None);
        }
        let mut chunk = content.chunk(index);
        if wrong_digest && index == 0 && !chunk.is_empty() {
            let mut changed = chunk.to_vec();
            changed[0] ^= 0xff;
            chunk = Bytes::from(changed);
        }
        let room = cut - *sent;
        if chunk.len() as u64 > room {
            chunk = chunk.slice(..room as usize);
        }
        *sent += chunk.len() as u64;
        std::future::ready(Some(Ok(chunk)))
    });
    // A failing body makes the server drop the connection before the answer is complete.
    let reset = effects.reset_after.map(|_| {
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated reset",
        ))
    });
    chunks.chain(futures::stream::iter(reset))
}

async fn body(State(shared): S, Path((provider, id)): Path<(String, String)>, headers: HeaderMap) -> ApiResult {
    let (enterprise, effects) = shared.begin(Route::Body, Some(&provider), &headers).await?;
    let (body, main) = shared.with_message(&provider, &enterprise, &id, |m| (m.body.clone(), m.body_main_content))?;
    let body = body.ok_or_else(|| error(StatusCode::NOT_FOUND, "NOT_FOUND", format!("message {id} has no body")))?;
    if main {
        shared.update_message(&provider, &enterprise, &id, |m, _| m.read = true);
    }
    Ok(shared.respond(Route::Body, &enterprise, &effects, &json!(body)))
}

async fn payment_data(State(shared): S, Path((provider, id)): Path<(String, String)>, headers: HeaderMap) -> ApiResult {
    let (enterprise, effects) = shared.begin(Route::PaymentData, Some(&provider), &headers).await?;
    let payment = shared
        .with_message(&provider, &enterprise, &id, |m| m.payment_data.clone())?
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("message {id} has no payment data"),
            )
        })?;
    Ok(shared.respond(Route::PaymentData, &enterprise, &effects, &payment))
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
        _ => Err(error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no reference data {kind}"),
        )),
    }
}

async fn reference_list(
    State(shared): S,
    Path((provider, kind)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult {
    let page = int_param(&q, "page", 1, i32::MAX as usize)?;
    let page_size = int_param(&q, "pageSize", 25, 100)?;
    let (enterprise, effects) = shared.begin(Route::ReferenceData, Some(&provider), &headers).await?;
    let (items, render) = reference_kind(&shared.world.read().unwrap().reference, &kind)?;
    let page_items: Vec<Value> = items
        .iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .map(render)
        .collect();
    let value = json!({"items": page_items, "totalItems": items.len()});
    Ok(shared.respond(Route::ReferenceData, &enterprise, &effects, &value))
}

async fn reference_item(
    State(shared): S,
    Path((provider, kind, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let (enterprise, effects) = shared.begin(Route::ReferenceData, Some(&provider), &headers).await?;
    let (items, render) = reference_kind(&shared.world.read().unwrap().reference, &kind)?;
    let value = items
        .iter()
        .find(|i| i.id == id)
        .map(render)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "NOT_FOUND", format!("{kind} {id} not found")))?;
    Ok(shared.respond(Route::ReferenceData, &enterprise, &effects, &value))
}
