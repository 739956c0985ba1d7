//! The handlers: parse, call the library, answer. Each carries its OpenAPI description.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use delivery::EntityId;
use delivery::admin::{KeySource, NewConnection};
use delivery::connection_status::ConnectionStatus;
use delivery::onboarding::Step;
use delivery::ports::{Answer, Connection};
use delivery::rotation::RotationRow;
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::problem::{self, Problem};
use crate::{Api, MAX_BODY_BYTES};

pub fn routes() -> OpenApiRouter<Arc<Api>> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, remove))
        .routes(routes!(test))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(onboarding_step))
        .routes(routes!(status))
        .routes(routes!(rotation))
}

/// A connection to create. Without `client_id`, an onboarding starts (step `requested`);
/// with it, the connection is added (or an onboarding waiting for it completed) with its
/// key material, `private_key_pem` and `certificate_pem` or `shared_certificate`, then
/// tested.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    /// The entity's enterprise number (KBO), e.g. `0403.170.701`.
    pub entity_id: String,
    pub name: String,
    /// The reference of the entity's Facilipunt request.
    pub facilipunt_reference: Option<String>,
    /// The ClientID of the entity's "DocConsumer e-Box Enterprise" REST account.
    pub client_id: Option<String>,
    /// DigiPost's private key (PEM, PKCS#8 or PKCS#1), with `certificate_pem`. Stored in
    /// the connection's own secret; never answered or logged.
    #[schema(value_type = Option<String>, format = Password)]
    pub private_key_pem: Option<secrecy::SecretString>,
    /// The certificate (PEM) registered with the REST account.
    pub certificate_pem: Option<String>,
    /// DigiPost's shared certificate secret (its id), instead of key material of its own.
    pub shared_certificate: Option<String>,
    /// Verdeelbak prefix; `verdeelbak/<entity>/` by default.
    pub verdeelbak_prefix: Option<String>,
    /// Scopes its token requests name, when not the configured ones.
    pub scopes: Option<Vec<String>>,
}

/// A test of a connection: did a token and a reading of the e-Box get through?
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TestResult {
    pub works: bool,
    pub text: String,
    /// Where it failed: `secret`, `configuration`, `token`, `providers` or `listing`.
    pub step: Option<String>,
    /// The step a person redoes, when a refusal names one.
    pub action: Option<delivery::health::Action>,
}

impl From<delivery::probe::Verdict> for TestResult {
    fn from(v: delivery::probe::Verdict) -> Self {
        Self {
            works: v.works,
            text: v.text,
            step: v.step.map(str::to_owned),
            action: v.action,
        }
    }
}

/// A connection, and the test made when it was given its ClientID.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Created {
    pub connection: Connection,
    pub test: Option<TestResult>,
}

/// Where an onboarding stands: its step, since when, who acts next and what they do.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct OnboardingState {
    pub step: Step,
    pub since: Option<DateTime<Utc>>,
    pub connected: bool,
    pub next_by: Option<String>,
    pub next: Option<String>,
    /// Days on its step, when it is stuck there.
    pub stuck_days: Option<i64>,
}

/// One connection with its health, its last run and its onboarding.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ConnectionDetail {
    pub connection: Connection,
    pub onboarding: OnboardingState,
    /// The stored report of its last run, none before one.
    #[schema(value_type = Option<Object>)]
    pub last_run: Option<serde_json::Value>,
}

/// A page of connections, and where the next one starts.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ConnectionPage {
    pub items: Vec<Connection>,
    pub next: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many (1 to 500, 100 by default).
    pub limit: Option<usize>,
    /// The `next` of the page before.
    pub after: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Only the connections that need a person: needs action, or a stuck onboarding.
    pub needs_action: Option<bool>,
}

/// An onboarding step the platform reports.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepReached {
    /// `requested`, `certificate_handed_over` or `waiting_for_client_id`; the later steps are
    /// recorded by a create with the ClientID, a test, and the first delivery.
    pub step: Step,
    /// Which certificate was handed over (its SHA-256 thumbprint or its secret).
    pub certificate: Option<String>,
}

/// A removed connection, and its own secret, scheduled for deletion (7 days to recover).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Removed {
    pub entity_id: String,
    pub secret_scheduled_for_deletion: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct EntityPath {
    /// The entity's enterprise number (KBO), e.g. `0403170701`.
    entity_id: String,
}

/// The time, to the millisecond, as the stores keep it: an answer shows what a read shows.
fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(3)
}

fn entity(raw: &str) -> Result<EntityId, Problem> {
    EntityId::parse_lenient(raw).map_err(|e| Problem::invalid("entity_id", e.to_string()))
}

/// A query that does not read, answered as a problem naming the parameter.
fn query_problem(e: QueryRejection) -> Problem {
    let message = e.body_text();
    // "Failed to deserialize query string: limit: invalid digit found in string"
    let field = message.rsplit(": ").nth(1).unwrap_or("query").to_owned();
    Problem::invalid(truncated(&field), redacted(&message))
}

/// A name the caller sent, cut to a length that cannot carry key material.
fn truncated(name: &str) -> &str {
    name.char_indices().nth(40).map_or(name, |(at, _)| &name[..at])
}

/// serde's message without the value it quotes: a value sent in the wrong field may be
/// key material, and is never answered.
fn redacted(message: &str) -> String {
    let mut out = message.to_owned();
    for quote in ['"', '`'] {
        if let (Some(first), Some(last)) = (out.find(quote), out.rfind(quote))
            && last > first
        {
            out = format!("{}{quote}…{quote}{}", &out[..first], &out[last + quote.len_utf8()..]);
        }
    }
    out
}

/// The body as `T`, or the problem naming the field at fault.
fn body<T: DeserializeOwned>(bytes: Result<Bytes, BytesRejection>) -> Result<T, Problem> {
    let bytes = bytes.map_err(|e| {
        let status = e.status();
        let detail = format!("{} (at most {MAX_BODY_BYTES} bytes)", e.body_text());
        Problem::new(status, "unreadable-body", detail).step("input")
    })?;
    let mut json = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let path = e.path().to_string();
        let raw = e.inner().to_string();
        let field = match path.as_str() {
            // At the top: serde names a missing or unknown field in backticks.
            "." if raw.contains("field `") => raw.split('`').nth(1).unwrap_or("body"),
            "." => "body",
            path => path,
        };
        let detail = format!("the body is not a valid request: {}", redacted(&raw));
        Problem::invalid(truncated(field), detail)
    })
}

/// Creates a connection, or starts an onboarding (no `client_id` yet). Repeated with the
/// same `Idempotency-Key` and body, the first answer is given again and nothing is done
/// twice; the same key with another body is refused.
#[utoipa::path(post, path = "/connections", tag = "connections",
    request_body = CreateConnection,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a repeat of this create answer as the first did, for a day")),
    responses(
        (status = 201, description = "Created (and tested, with a ClientID)", body = Created),
        (status = 409, description = "The entity already has a connection", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad input, nothing stored", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(State(api): State<Arc<Api>>, headers: HeaderMap, raw: Result<Bytes, BytesRejection>) -> Response {
    let Some(key) = headers.get("idempotency-key") else {
        return created(&api, raw).await.into_answer().into_response();
    };
    let Ok(key) = key.to_str().map(str::trim).map(str::to_owned) else {
        return Problem::invalid("Idempotency-Key", "not a visible ASCII string").into_response();
    };
    if key.is_empty() || key.len() > 255 {
        return Problem::invalid("Idempotency-Key", "between 1 and 255 characters").into_response();
    }
    let key = hex(key.as_bytes());
    let request = hex(raw.as_deref().unwrap_or_default());
    let at = now();
    let until = at + api.answers_kept;
    let claim = Answer {
        request: request.clone(),
        status: CLAIMED,
        body: at.to_rfc3339(),
    };
    // Claim the key before doing anything: a repeat meanwhile is told to wait, and nothing
    // is done twice.
    let first = match api.answers.recall(&key).await {
        Ok(None) => match api.answers.remember(&key, &claim, until).await {
            Ok(true) => None,
            Ok(false) => api.answers.recall(&key).await.ok().flatten(),
            Err(e) => return problem::store("", "idempotency", e).into_response(),
        },
        Ok(kept) => kept,
        Err(e) => return problem::store("", "idempotency", e).into_response(),
    };
    if let Some(kept) = first {
        if kept.request != request || !abandoned(&kept, at) {
            return replay(kept, &request);
        }
        // Claimed by a function that died meanwhile: taken over.
        if let Err(e) = api.answers.settle(&key, &claim, until).await {
            return problem::store("", "idempotency", e).into_response();
        }
    }
    let answer = created(&api, raw).await.into_answer();
    // Answers a retry cannot change are kept; after a failure a retry may run again.
    let kept = match answer.status >= 500 {
        true => Answer {
            body: RELEASED.into(),
            ..claim
        },
        false => Answer {
            request,
            status: answer.status,
            body: answer.body.clone(),
        },
    };
    if let Err(e) = api.answers.settle(&key, &kept, until).await {
        tracing::warn!(error = %e, "an answer was not kept under its idempotency key");
    }
    answer.into_response()
}

/// The status of a claim kept under a key while its request is answered; its body is when.
const CLAIMED: u16 = 0;
/// The body of a claim given up after a failure: the next repeat runs again.
const RELEASED: &str = "released";
/// A claim older than this was left by a function that died (it times out after 25 s).
const ABANDONED_AFTER: chrono::Duration = chrono::Duration::seconds(60);

/// A claim that no live request holds any more.
fn abandoned(kept: &Answer, now: DateTime<Utc>) -> bool {
    kept.status == CLAIMED
        && kept
            .body
            .parse::<DateTime<Utc>>()
            .map_or(true, |at| now - at > ABANDONED_AFTER)
}

fn hex(bytes: &[u8]) -> String {
    delivery::ports::hex(Sha256::digest(bytes))
}

/// The answer kept for this key, if it was for the same request.
fn replay(kept: Answer, request: &str) -> Response {
    if kept.request != request {
        let detail = "this Idempotency-Key was used with another request; use a new key for a new request";
        return Problem {
            status: 422,
            ..Problem::invalid("Idempotency-Key", detail)
        }
        .into_response();
    }
    if kept.status == CLAIMED {
        let detail = "a request with this Idempotency-Key is being answered; repeat it in a moment";
        let problem = Problem::new(StatusCode::CONFLICT, "in-progress", detail).step("idempotency");
        return ([(http::header::RETRY_AFTER, "2")], problem).into_response();
    }
    Reply {
        status: kept.status,
        body: kept.body,
    }
    .into_response()
}

/// An answer as it is sent and kept: status and JSON body.
struct Reply {
    status: u16,
    body: String,
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let content_type = match status.is_success() {
            true => "application/json",
            false => crate::problem::CONTENT_TYPE,
        };
        (status, [(http::header::CONTENT_TYPE, content_type)], self.body).into_response()
    }
}

trait IntoAnswer {
    fn into_answer(self) -> Reply;
}

impl IntoAnswer for Result<Created, Problem> {
    fn into_answer(self) -> Reply {
        match self {
            Ok(created) => Reply {
                status: 201,
                body: serde_json::to_string(&created).unwrap_or_default(),
            },
            Err(p) => Reply {
                status: p.status,
                body: serde_json::to_string(&p).unwrap_or_default(),
            },
        }
    }
}

async fn created(api: &Api, raw: Result<Bytes, BytesRejection>) -> Result<Created, Problem> {
    let request: CreateConnection = body(raw)?;
    let id = entity(&request.entity_id)?;
    let now = now();
    let with_key = request.private_key_pem.is_some() || request.certificate_pem.is_some();
    let Some(client_id) = request.client_id else {
        if with_key || request.shared_certificate.is_some() {
            let detail = "key material comes with the ClientID: start the onboarding without it";
            return Err(Problem::invalid("client_id", detail).entity(&id));
        }
        let connections = api.connections.as_ref();
        let connection =
            delivery::onboard::request(connections, id, &request.name, request.facilipunt_reference, now).await?;
        return Ok(Created { connection, test: None });
    };
    let key = match (
        request.private_key_pem,
        request.certificate_pem,
        request.shared_certificate,
    ) {
        (Some(private_key_pem), Some(certificate_pem), None) => KeySource::Pem {
            private_key_pem,
            certificate_pem,
        },
        (None, None, Some(shared)) => KeySource::SharedCertificate(shared),
        (_, _, Some(_)) => {
            let detail = "either key material or a shared certificate, not both";
            return Err(Problem::invalid("shared_certificate", detail).entity(&id));
        }
        (key, _, None) => {
            let field = if key.is_none() {
                "private_key_pem"
            } else {
                "certificate_pem"
            };
            let detail = "give private_key_pem and certificate_pem, or shared_certificate";
            return Err(Problem::invalid(field, detail).entity(&id));
        }
    };
    let new = NewConnection {
        entity: id,
        name: request.name,
        client_id,
        key,
        prefix: request.verdeelbak_prefix,
        scopes: request.scopes,
    };
    let mut connection = api.admin().add(new, now).await?.connection;
    let verdict = api
        .admin()
        .test(api.ebox.as_ref().map_err(Clone::clone), &mut connection, now)
        .await;
    Ok(Created {
        connection,
        test: Some(verdict.into()),
    })
}

/// A page of connections, in no promised order.
#[utoipa::path(get, path = "/connections", tag = "connections", params(PageQuery),
    responses((status = 200, body = ConnectionPage),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn list(
    State(api): State<Arc<Api>>,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<ConnectionPage>, Problem> {
    let Query(page) = page.map_err(query_problem)?;
    let limit = page.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(Problem::invalid("limit", "from 1 to 500"));
    }
    if let Some(after) = &page.after {
        entity(after).map_err(|_| Problem::invalid("after", "not the `next` of a page"))?;
    }
    let page = (api.connections.page(page.after, limit).await).map_err(|e| problem::store("", "connections", e))?;
    Ok(Json(ConnectionPage {
        items: page.items,
        next: page.next,
    }))
}

/// One connection, with its health, its last run and where its onboarding stands.
#[utoipa::path(get, path = "/connections/{entity_id}", tag = "connections", params(EntityPath),
    responses((status = 200, body = ConnectionDetail),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_one(State(api): State<Arc<Api>>, Path(raw): Path<String>) -> Result<Json<ConnectionDetail>, Problem> {
    let id = entity(&raw)?;
    let connection = api.admin().existing(&id).await?;
    let last = (api.reports.get_last(&id).await).map_err(|e| problem::store(&id, "state", e))?;
    let last_run = last.map(|r| match r.report() {
        Some(report) => serde_json::to_value(report).unwrap_or_default(),
        None => serde_json::json!({"summary": r.summary()}),
    });
    let now = now();
    let onboarding = connection.onboarding.clone().unwrap_or_default();
    let connected = connection.is_connected();
    let state = OnboardingState {
        step: connection.onboarding_step(),
        since: onboarding.current().map(|(_, at)| at),
        connected,
        next_by: (!connected).then(|| onboarding.next_by().to_owned()),
        next: (!connected).then(|| onboarding.next().to_owned()),
        stuck_days: (connection.stuck_onboarding(api.stuck_after, now)).map(|(_, waited)| waited.num_days()),
    };
    Ok(Json(ConnectionDetail {
        connection,
        onboarding: state,
        last_run,
    }))
}

/// Removes the connection; its own secret is scheduled for deletion (7 days to recover).
#[utoipa::path(delete, path = "/connections/{entity_id}", tag = "connections", params(EntityPath),
    responses((status = 200, body = Removed),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn remove(State(api): State<Arc<Api>>, Path(raw): Path<String>) -> Result<Json<Removed>, Problem> {
    let id = entity(&raw)?;
    let secret = api.admin().remove(&id).await?;
    Ok(Json(Removed {
        entity_id: id.to_string(),
        secret_scheduled_for_deletion: secret,
    }))
}

/// Tests the connection: a token, the providers, a summary. While it onboards, a test
/// that gets through connects it; one that does not keeps the refusal and its step.
#[utoipa::path(post, path = "/connections/{entity_id}/test", tag = "connections", params(EntityPath),
    responses((status = 200, body = TestResult),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn test(State(api): State<Arc<Api>>, Path(raw): Path<String>) -> Result<Json<TestResult>, Problem> {
    let id = entity(&raw)?;
    let mut connection = api.admin().existing(&id).await?;
    let ebox = api.ebox.as_ref().map_err(Clone::clone);
    let verdict = api.admin().test(ebox, &mut connection, now()).await;
    Ok(Json(verdict.into()))
}

async fn set_enabled(api: &Api, raw: &str, enabled: bool) -> Result<Json<Connection>, Problem> {
    let id = entity(raw)?;
    api.admin().set_enabled(&id, enabled, now()).await?;
    Ok(Json(api.admin().existing(&id).await?))
}

/// Delivers the entity's mail again from the next run on.
#[utoipa::path(post, path = "/connections/{entity_id}/enable", tag = "connections", params(EntityPath),
    responses((status = 200, body = Connection),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn enable(State(api): State<Arc<Api>>, Path(raw): Path<String>) -> Result<Json<Connection>, Problem> {
    set_enabled(&api, &raw, true).await
}

/// Stops delivering the entity's mail; nothing is removed.
#[utoipa::path(post, path = "/connections/{entity_id}/disable", tag = "connections", params(EntityPath),
    responses((status = 200, body = Connection),
              (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn disable(State(api): State<Arc<Api>>, Path(raw): Path<String>) -> Result<Json<Connection>, Problem> {
    set_enabled(&api, &raw, false).await
}

/// Records an onboarding step the platform reports (certificate handed over, waiting for
/// the ClientID); a step already reached keeps its first date.
#[utoipa::path(post, path = "/connections/{entity_id}/onboarding", tag = "connections", params(EntityPath),
    request_body = StepReached,
    responses((status = 200, body = Connection),
              (status = 404, body = Problem, content_type = "application/problem+json"),
              (status = 409, description = "The onboarding is past that step", body = Problem, content_type = "application/problem+json"),
              (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn onboarding_step(
    State(api): State<Arc<Api>>,
    Path(raw): Path<String>,
    raw_body: Result<Bytes, BytesRejection>,
) -> Result<Json<Connection>, Problem> {
    let id = entity(&raw)?;
    let reached: StepReached = body(raw_body).map_err(|p| p.entity(&id))?;
    let connections = api.connections.as_ref();
    let connection = delivery::onboard::reach(connections, &id, reached.step, reached.certificate, now()).await?;
    Ok(Json(connection))
}

/// Every connection, those that need a person first: needs action, then stuck
/// onboardings, then degraded, ok, onboardings under way and those that never ran.
#[utoipa::path(get, path = "/status", tag = "views", params(StatusQuery),
    responses((status = 200, body = Vec<ConnectionStatus>)))]
async fn status(
    State(api): State<Arc<Api>>,
    query: Result<Query<StatusQuery>, QueryRejection>,
) -> Result<Json<Vec<ConnectionStatus>>, Problem> {
    let Query(query) = query.map_err(query_problem)?;
    let all = all_connections(&api).await?;
    let only = query.needs_action.unwrap_or(false);
    let rows =
        delivery::connection_status::connection_statuses(all, api.snapshots.as_ref(), only, api.stuck_after, now())
            .await
            .map_err(|e| problem::store("", "state", e))?;
    Ok(Json(rows))
}

/// Where each connection stands in a certificate rotation, those still to move first.
#[utoipa::path(get, path = "/rotation", tag = "views",
    responses((status = 200, body = Vec<RotationRow>)))]
async fn rotation(State(api): State<Arc<Api>>) -> Result<Json<Vec<RotationRow>>, Problem> {
    let all = all_connections(&api).await?;
    let rows = delivery::rotation::rows(&all, api.reports.as_ref(), api.secrets.clone(), now())
        .await
        .map_err(|e| problem::store("", "state", e))?;
    Ok(Json(rows))
}

async fn all_connections(api: &Api) -> Result<Vec<Connection>, Problem> {
    let reader: &dyn delivery::ports::ConnectionReader = api.connections.as_ref();
    (delivery::ports::all_connections(reader).await).map_err(|e| problem::store("", "connections", e))
}
