//! Errors as `application/problem+json` (RFC 9457), naming the entity, the step and, for
//! bad input, the field. The one place that decides which status a failure answers with.

use axum::response::{IntoResponse, Response};
use delivery::admin::AdminError;
use delivery::onboard::OnboardError;
use delivery::ports::StoreError;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// A problem, as RFC 9457 has it, with the members this API adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// `urn:digipost-ebox:problem:<kind>`, one per kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// The step that failed (`input`, `key material`, `secret`, `connection`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The request's field at fault, for bad input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:digipost-ebox:problem:{kind}"),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            entity_id: None,
            step: None,
            field: None,
        }
    }

    /// Bad input in `field`: nothing was stored.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self {
            step: Some("input".into()),
            field: Some(field.to_owned()),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-input", detail)
        }
    }

    /// Names the entity; an empty name (a listing's failure) names none.
    pub fn entity(mut self, entity: impl ToString) -> Self {
        self.entity_id = Some(entity.to_string()).filter(|e| !e.is_empty());
        self
    }

    pub fn step(mut self, step: &str) -> Self {
        self.step = Some(step.to_owned());
        self
    }

    /// A store that failed: worth trying again when it was unavailable.
    fn store(e: &StoreError) -> Self {
        let (status, kind) = match e.retryable {
            true => (StatusCode::SERVICE_UNAVAILABLE, "store-unavailable"),
            false => (StatusCode::INTERNAL_SERVER_ERROR, "store-failed"),
        };
        Self::new(status, kind, e.to_string())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_string(&self).unwrap_or_default();
        (status, [(http::header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
    }
}

impl From<AdminError> for Problem {
    fn from(e: AdminError) -> Self {
        let detail = e.to_string();
        match e {
            AdminError::Invalid {
                entity, step, field, ..
            } => Self {
                field: Some(field.to_owned()),
                ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-input", detail)
                    .entity(entity)
                    .step(step)
            },
            AdminError::NotFound(entity) => Self::new(StatusCode::NOT_FOUND, "no-connection", detail).entity(entity),
            AdminError::Conflict { entity, .. } => Self::new(StatusCode::CONFLICT, "conflict", detail).entity(entity),
            AdminError::Store { entity, step, cause } => Self {
                detail,
                ..Self::store(&cause).entity(entity).step(step)
            },
        }
    }
}

impl From<OnboardError> for Problem {
    fn from(e: OnboardError) -> Self {
        let detail = e.to_string();
        match e {
            OnboardError::NoConnection(entity) => {
                Self::new(StatusCode::NOT_FOUND, "no-connection", detail).entity(entity)
            }
            OnboardError::Exists(entity) | OnboardError::AlreadyPast { entity, .. } | OnboardError::Changed(entity) => {
                Self::new(StatusCode::CONFLICT, "conflict", detail)
                    .entity(entity)
                    .step("onboarding")
            }
            OnboardError::NotReported { entity, .. } => Self {
                detail,
                ..Self::invalid("step", "").entity(entity)
            },
            OnboardError::Store(cause) => Self {
                detail,
                ..Self::store(&cause).step("onboarding")
            },
        }
    }
}

/// A store that failed at `step` for `entity`.
pub fn store(entity: impl ToString, step: &str, e: StoreError) -> Problem {
    Problem::store(&e).entity(entity).step(step)
}
