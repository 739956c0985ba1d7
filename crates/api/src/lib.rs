//! The connections API that DigiPost's "connecties" tab calls: create a connection (key
//! material or a shared certificate, checked as `connections add` checks them), record its
//! onboarding, test it, list, get, enable, disable, remove, the status view and the
//! certificate-rotation view. JSON in and out, errors as `application/problem+json`, a
//! create idempotent under an `Idempotency-Key`. The routes and the OpenAPI document come
//! from the same handlers ([`router`]), so the document cannot name a route not served.
//! Every change goes through the library's use cases, as the CLI's do.
#![allow(
    clippy::result_large_err,
    reason = "a Problem is answered once a request, next to a network round trip; boxing it buys nothing"
)]

pub mod problem;
mod routes;

use std::sync::Arc;

use axum::Router;
use delivery::ports::{Answers, ConnectionAdmin, RunReportStore, SecretAdmin, StateSnapshots};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use problem::Problem;

/// The largest request body taken: key material is a few kB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the API works with: the stores, and e-Box for tests of a connection.
pub struct Api {
    pub connections: Arc<dyn ConnectionAdmin>,
    pub snapshots: Arc<dyn StateSnapshots>,
    pub reports: Arc<dyn RunReportStore>,
    pub secrets: Arc<dyn SecretAdmin>,
    /// Answers kept under idempotency keys.
    pub answers: Arc<dyn Answers>,
    /// Connection secrets are named `<prefix>connections/<entity>`.
    pub secrets_prefix: String,
    /// The e-Box client tests use, or why there is none.
    pub ebox: Result<ebox::Ebox, String>,
    /// An onboarding on one step for longer than this is stuck.
    pub stuck_after: chrono::Duration,
    /// How long a create's answer is kept under its idempotency key.
    pub answers_kept: chrono::Duration,
}

impl Api {
    fn admin(&self) -> delivery::admin::Admin<'_> {
        delivery::admin::Admin {
            connections: self.connections.as_ref(),
            secrets: self.secrets.as_ref(),
            secrets_prefix: &self.secrets_prefix,
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "digipost-ebox connections API",
        description = "The connections of DigiPost's \"connecties\" tab: each entity's e-Box connection and its \
                       onboarding. IAM-authorised (SigV4). Errors are application/problem+json (RFC 9457).",
        version = "1"
    ),
    tags((name = "connections"), (name = "views"))
)]
struct Document;

/// The routes with their OpenAPI document, built from the same handlers.
fn split() -> (Router<Arc<Api>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(Document::openapi())
        .merge(routes::routes())
        .split_for_parts()
}

/// The API, as the function serves it: every route of [`openapi`], the document itself at
/// `/openapi.json`, and a problem for any other path.
pub fn router(api: Arc<Api>) -> Router {
    let (routes, _) = split();
    routes
        .route("/openapi.json", axum::routing::get(|| async { axum::Json(openapi()) }))
        .fallback(|| async { Problem::new(http::StatusCode::NOT_FOUND, "no-such-route", "no such route") })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(api)
}

/// The OpenAPI 3.1 document of the API, generated from its handlers and types.
pub fn openapi() -> utoipa::openapi::OpenApi {
    split().1
}

/// What the function reads from its environment: `CONNECTIONS_TABLE`, `STATE_TABLE`,
/// `SECRETS_PREFIX` (default `digipost/ebox/`), the `EBOX_*` endpoints,
/// `ONBOARDING_STUCK_AFTER_DAYS` (14).
pub struct ApiConfig {
    pub connections_table: String,
    pub state_table: String,
    pub secrets_prefix: String,
    pub ebox: ebox::EboxConfig,
    pub stuck_after: chrono::Duration,
}

impl ApiConfig {
    pub fn read<F: Fn(&str) -> Option<String>>(
        mut env: delivery::config::Env<F>,
    ) -> Result<Self, delivery::config::ConfigError> {
        use delivery::config::vars;
        let connections_table = env.required(vars::CONNECTIONS_TABLE);
        let state_table = env.required(vars::STATE_TABLE);
        let secrets_prefix = env
            .optional("SECRETS_PREFIX")
            .unwrap_or_else(|| "digipost/ebox/".into());
        let stuck_days = env.parsed_or(
            "ONBOARDING_STUCK_AFTER_DAYS",
            delivery::fleet::DEFAULT_ONBOARDING_STUCK_DAYS,
        );
        let ebox = delivery::config::ebox_config(&mut env);
        env.finish()?;
        Ok(Self {
            connections_table,
            state_table,
            secrets_prefix,
            ebox,
            stuck_after: chrono::Duration::days(stuck_days.max(1)),
        })
    }
}

/// The API on the AWS stores.
pub fn on_aws(clients: &delivery::aws::AwsClients, config: ApiConfig) -> Api {
    let db = &clients.dynamodb;
    let state = Arc::new(delivery::aws::DynamoState::new(db.clone(), &config.state_table));
    Api {
        connections: Arc::new(delivery::aws::DynamoConnections::new(
            db.clone(),
            &config.connections_table,
        )),
        snapshots: state.clone(),
        reports: state.clone(),
        answers: state,
        secrets: Arc::new(delivery::aws::SecretsManager::new(clients.secrets.clone())),
        secrets_prefix: config.secrets_prefix,
        ebox: ebox::Ebox::new(config.ebox).map_err(|e| e.to_string()),
        stuck_after: config.stuck_after,
        answers_kept: chrono::Duration::hours(24),
    }
}

/// The log filter of the function at `level`, with one bound: a level finer than INFO
/// applies to this project's own code only. Below INFO the Lambda runtime writes each raw
/// event (a create's event holds key material) and the AWS SDK what it sends and receives
/// (a secret's value).
pub fn log_filter(level: tracing_subscriber::filter::LevelFilter) -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::filter::LevelFilter;
    let mut filter = tracing_subscriber::EnvFilter::default().add_directive(level.min(LevelFilter::INFO).into());
    for own in ["connections", "connections_api", "delivery", "ebox"] {
        if let Ok(directive) = format!("{own}={level}").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}
