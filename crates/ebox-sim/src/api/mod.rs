//! The e-Box routes: token endpoint, both provider discoveries, message registries of
//! either API version.

mod content;
mod discovery;
pub(crate) mod messages;
pub(crate) mod params;
mod reference;
mod token;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::data::{CONSULT_SCOPE, MESSAGES_SCOPE, REFERENCE_DATA_SCOPE, REGISTRY_SCOPE, SUMMARY_SCOPE};
use crate::faults::{Effects, Route};
use crate::model::{ApiVersion, Message, PartitionPlace, RenderContext};
use crate::{DOCUMENT_PROVIDER_REGISTRY_PATH, PROVIDERS_PATH, Shared, TOKEN_PATH};

type S = State<Arc<Shared>>;

pub fn router(shared: Arc<Shared>) -> Router {
    // The version segment is a path parameter so that a wrong one can be answered 404
    // (as a registry that does not speak it would), not left unrouted.
    let registry = "/registries/{provider}/{version}";
    let message = format!("{registry}/ebox/messages/{{id}}");
    Router::new()
        .route(TOKEN_PATH, post(token::token))
        .route(PROVIDERS_PATH, get(discovery::message_providers))
        .route(&format!("{PROVIDERS_PATH}/{{id}}"), get(discovery::message_provider))
        .route(DOCUMENT_PROVIDER_REGISTRY_PATH, get(discovery::message_registries))
        .route(&format!("{registry}/ebox"), get(messages::summary))
        .route(
            &format!("{registry}/ebox/messages"),
            get(messages::list).patch(messages::patch),
        )
        .route(&message, get(messages::message))
        .route(&format!("{message}/attachments"), get(messages::attachments))
        .route(&format!("{message}/attachments/{{att}}"), get(messages::attachment))
        .route(&format!("{message}/attachments/{{att}}/content"), get(content::content))
        .route(&format!("{message}/body"), get(messages::body))
        .route(&format!("{message}/paymentData"), get(messages::payment_data))
        // Reference data lies under `refData` or `referenceData`, as each registry has it:
        // the segment is a parameter, checked against the provider's.
        .route(&format!("{registry}/{{section}}/{{kind}}"), get(reference::list))
        .route(&format!("{registry}/{{section}}/{{kind}}/{{id}}"), get(reference::item))
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

fn not_found(message: impl Into<String>) -> ApiError {
    error(StatusCode::NOT_FOUND, "NOT_FOUND", message)
}

fn bad_request(message: String) -> ApiError {
    error(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", message)
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

/// The scopes of which a token needs one for a route. Earlier clients hold the three
/// older scopes, newer ones `documentconsumer`: either kind is served.
fn accepted_scopes(route: Route) -> &'static [&'static str] {
    match route {
        Route::Providers => &[REGISTRY_SCOPE],
        Route::Summary => &[CONSULT_SCOPE, SUMMARY_SCOPE],
        Route::ReferenceData => &[CONSULT_SCOPE, REFERENCE_DATA_SCOPE],
        Route::List
        | Route::Message
        | Route::Attachments
        | Route::Attachment
        | Route::Content
        | Route::Body
        | Route::PaymentData
        | Route::Patch => &[CONSULT_SCOPE, MESSAGES_SCOPE],
        // Never reached with a bearer token.
        Route::Token | Route::Any => &[],
    }
}

/// The registry part of every registry route's path.
#[derive(Deserialize)]
struct RegistryPath {
    provider: String,
    version: String,
}

/// The registry a call is addressed to, once found active and speaking that version.
struct Registry {
    provider: String,
    version: ApiVersion,
    page_limit: usize,
    /// Base URL for the hrefs in answers (no trailing slash).
    url: String,
    partition_place: PartitionPlace,
    /// The one path segment its reference data is served under.
    reference_path: String,
}

impl Registry {
    /// How this registry renders a message of `enterprise`'s e-Box.
    fn render<'a>(&'a self, enterprise: &'a str) -> RenderContext<'a> {
        RenderContext {
            registry_url: &self.url,
            version: self.version,
            partition_place: self.partition_place,
            enterprise,
        }
    }
}

/// A registry call that got past the provider, the token and the status faults.
struct Call {
    registry: Registry,
    enterprise: String,
    effects: Effects,
}

impl Shared {
    /// Checks the bearer token and that it holds one of `accepted`; returns the token's
    /// enterprise.
    fn authorize(&self, headers: &HeaderMap, accepted: &[&str]) -> Result<String, ApiError> {
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
        if !accepted.iter().any(|s| token.scopes.contains(*s)) {
            return Err(error(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                format!("the access token lacks scope {}", accepted.join(" or ")),
            ));
        }
        Ok(token.enterprise.clone())
    }

    /// The provider must exist, be active, speak the version in the path and not be in
    /// maintenance.
    fn registry(&self, route: Route, at: &RegistryPath) -> Result<Registry, ApiError> {
        let world = self.world.read().unwrap();
        let now = world.now();
        let p = world
            .provider(&at.provider)
            .filter(|p| p.active_on(now.date_naive()) && p.api_version.segment() == at.version)
            .ok_or_else(|| not_found(format!("no active provider {} {}", at.provider, at.version)))?;
        if p.in_maintenance(now) {
            self.count(route, "-", 0);
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "MAINTENANCE",
                format!("provider {} is in planned maintenance", at.provider),
            ));
        }
        Ok(Registry {
            provider: p.id.clone(),
            version: p.api_version,
            page_limit: p.page_limit,
            url: p.registry_url(&self.base_url),
            partition_place: p.partition_place,
            reference_path: p.reference_path().to_owned(),
        })
    }

    /// What every call with a bearer token goes through: the token and its scope, then
    /// the faults for this route.
    async fn admit(
        &self,
        route: Route,
        provider: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<(String, Effects), ApiError> {
        let enterprise = self.authorize(headers, accepted_scopes(route)).inspect_err(|_| {
            self.count(route, "-", 0);
        })?;
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

    /// A registry call: the registry first, then [`Shared::admit`].
    async fn begin(&self, route: Route, at: &RegistryPath, headers: &HeaderMap) -> Result<Call, ApiError> {
        let registry = self.registry(route, at)?;
        let (enterprise, effects) = self.admit(route, Some(&registry.provider), headers).await?;
        Ok(Call {
            registry,
            enterprise,
            effects,
        })
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
            .ok_or_else(|| not_found(format!("message {id} not found")))
    }
}
