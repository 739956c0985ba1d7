//! The control API, for tests and demos, answering only on loopback.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, body::Bytes};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

mod spec;

pub use spec::{AttachmentSpec, FixtureEntry, MessageSpec, load_fixture};

use crate::Shared;
use crate::api::{ApiError, error};
use crate::data::{CONSULT_SCOPE, REGISTRY_SCOPE, Scenario};
use crate::faults::Fault;
use crate::model::Maintenance;

type S = State<Arc<Shared>>;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/control/health", get(|| async { "ok" }))
        .route("/control/clients", post(register_client))
        .route("/control/clients/{client_id}", axum::routing::delete(revoke_client))
        .route("/control/scenario", post(scenario))
        .route("/control/fixture", post(fixture))
        .route(
            "/control/boxes/{provider}/{enterprise}/messages",
            post(add_message).get(list_messages),
        )
        .route("/control/boxes/{provider}/{enterprise}/arrivals", post(arrival))
        .route("/control/boxes/{provider}/{enterprise}/raw", post(add_raw_item))
        .route(
            "/control/boxes/{provider}/{enterprise}/messages/{id}/expire",
            post(expire),
        )
        .route("/control/boxes/{provider}/{enterprise}/messages/{id}/hide", post(hide))
        .route("/control/faults", post(add_fault).delete(clear_faults))
        .route("/control/counters", get(counters).delete(reset_counters))
        .route(
            "/control/providers/{id}/maintenance",
            post(maintenance).delete(end_maintenance),
        )
        .route("/control/clock", post(clock))
        .layer(middleware::from_fn(loopback_only))
        .with_state(shared)
}

async fn loopback_only(ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request, next: Next) -> Response {
    if !peer.ip().is_loopback() {
        return error(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "the control API answers on loopback only",
        )
        .into_response();
    }
    next.run(request).await
}

fn bad(message: impl Into<String>) -> ApiError {
    error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", message)
}

fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad(format!("body: {e}")))
}

#[derive(Deserialize)]
struct ClientRegistration {
    client_id: String,
    enterprise: String,
    certificate_pem: String,
    /// Scopes granted; both consumer scopes when absent.
    #[serde(default)]
    scopes: Option<BTreeSet<String>>,
}

async fn register_client(State(shared): S, body: Bytes) -> Result<StatusCode, ApiError> {
    let r: ClientRegistration = json_body(&body)?;
    let scopes = r
        .scopes
        .unwrap_or_else(|| [CONSULT_SCOPE, REGISTRY_SCOPE].map(str::to_owned).into_iter().collect());
    let client = crate::auth::client_from_certificate(&r.client_id, &r.enterprise, &r.certificate_pem, scopes)
        .map_err(|e| bad(e.to_string()))?;
    shared.register_client(client);
    Ok(StatusCode::CREATED)
}

async fn revoke_client(State(shared): S, Path(client_id): Path<String>) -> StatusCode {
    match shared.revoke_client(&client_id) {
        true => StatusCode::NO_CONTENT,
        false => StatusCode::NOT_FOUND,
    }
}

async fn scenario(State(shared): S, body: Bytes) -> Result<Json<Value>, ApiError> {
    let s: Scenario = json_body(&body)?;
    Ok(Json(json!({"messages": shared.generate(&s)})))
}

async fn fixture(State(shared): S, body: Bytes) -> Result<Json<Value>, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|e| bad(format!("body: {e}")))?;
    let loaded = load_fixture(&shared, text).map_err(bad)?;
    Ok(Json(json!({"messages": loaded})))
}

async fn add_message(
    State(shared): S,
    Path((provider, enterprise)): Path<(String, String)>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let spec: MessageSpec = json_body(&body)?;
    let message = spec.into_message(shared.now()).map_err(bad)?;
    let id = message.id.clone();
    shared.add_message(&provider, &enterprise, message);
    Ok((StatusCode::CREATED, Json(json!({"messageId": id}))))
}

/// An unreadable item to list among the messages.
#[derive(Deserialize)]
struct RawItemSpec {
    raw: Value,
    /// Where it lies in the list; now when absent.
    #[serde(default)]
    received_at: Option<DateTime<Utc>>,
}

async fn add_raw_item(
    State(shared): S,
    Path((provider, enterprise)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let spec: RawItemSpec = json_body(&body)?;
    let received_at = spec.received_at.unwrap_or_else(|| shared.now());
    shared.add_raw_item(&provider, &enterprise, spec.raw, received_at);
    Ok(StatusCode::CREATED)
}

async fn arrival(State(shared): S, Path((provider, enterprise)): Path<(String, String)>) -> (StatusCode, Json<Value>) {
    let id = shared.arrive(&provider, &enterprise);
    (StatusCode::CREATED, Json(json!({"messageId": id})))
}

async fn list_messages(State(shared): S, Path((provider, enterprise)): Path<(String, String)>) -> Json<Value> {
    let now = shared.now();
    let list: Vec<Value> = shared
        .messages(&provider, &enterprise)
        .iter()
        .map(|m| {
            json!({
                "messageId": m.id,
                "readStatus": m.read,
                "visible": m.visible,
                "expired": m.expiration <= now,
                "receiptDate": crate::model::datetime(m.receipt),
            })
        })
        .collect();
    Json(Value::Array(list))
}

fn not_found(id: &str) -> ApiError {
    error(StatusCode::NOT_FOUND, "NOT_FOUND", format!("message {id} not found"))
}

async fn expire(
    State(shared): S,
    Path((provider, enterprise, id)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    if shared.update_message(&provider, &enterprise, &id, |m, now| {
        m.expiration = now - Duration::seconds(1)
    }) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

async fn hide(
    State(shared): S,
    Path((provider, enterprise, id)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    if shared.update_message(&provider, &enterprise, &id, |m, _| m.visible = false) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&id))
    }
}

async fn add_fault(State(shared): S, body: Bytes) -> Result<StatusCode, ApiError> {
    shared.add_fault(json_body::<Fault>(&body)?);
    Ok(StatusCode::CREATED)
}

async fn clear_faults(State(shared): S) -> StatusCode {
    shared.clear_faults();
    StatusCode::NO_CONTENT
}

async fn counters(State(shared): S) -> Json<Value> {
    let rows: Vec<Value> = shared
        .counters()
        .into_iter()
        .map(|((route, enterprise), c)| json!({"route": route, "enterprise": enterprise, "requests": c.requests, "bytes": c.bytes}))
        .collect();
    Json(Value::Array(rows))
}

async fn reset_counters(State(shared): S) -> StatusCode {
    shared.reset_counters();
    StatusCode::NO_CONTENT
}

async fn maintenance(State(shared): S, Path(id): Path<String>, body: Bytes) -> Result<StatusCode, ApiError> {
    let window: Maintenance = json_body(&body)?;
    if shared.update_provider(&id, |p| p.maintenance.push(window)) {
        Ok(StatusCode::CREATED)
    } else {
        Err(error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("provider {id} not found"),
        ))
    }
}

async fn end_maintenance(State(shared): S, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    if shared.update_provider(&id, |p| p.maintenance.clear()) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("provider {id} not found"),
        ))
    }
}

#[derive(Deserialize)]
struct ClockChange {
    advance_seconds: i64,
}

async fn clock(State(shared): S, body: Bytes) -> Result<Json<Value>, ApiError> {
    let change: ClockChange = json_body(&body)?;
    shared.advance_clock(Duration::seconds(change.advance_seconds));
    Ok(Json(json!({"now": crate::model::datetime(shared.now())})))
}
