//! The OAuth token endpoint: client credentials with a signed client assertion.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{S, status_fault};
use crate::Token;
use crate::auth::OAuthError;
use crate::faults::Route;

pub(super) async fn token(State(shared): S, body: Bytes) -> Response {
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
    let granted = match shared.check_token_request(&form) {
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
