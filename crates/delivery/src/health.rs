//! A connection's health: `ok`, `degraded` (failures a later run can get past) or
//! `needs_action` (someone has to do something before mail flows again), with the step to
//! redo. Pure rules; fetch keeps the result with the connection, written only on a change.

use chrono::{DateTime, Utc};
use ebox::EboxError;
use serde::{Deserialize, Serialize};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum HealthState {
    /// Needs a person: listed first wherever connections are listed.
    NeedsAction,
    Degraded,
    Ok,
}

/// What has to be redone, and by whom, before the connection works again.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// e-Box does not accept the client: the account is gone, disabled, or has another certificate.
    WebserviceAccount,
    /// The certificate registered with the account has expired or is not ours.
    CertificateUpload,
    /// The client lacks a scope a Document Consumer needs.
    DocumentConsumerRegistration,
    /// Our side: the connection's secret is missing or not of the documented form.
    ConnectionSecret,
}

impl Action {
    /// Who has to act: the entity, in its e-Box access management, or DigiPost.
    pub fn by(self) -> &'static str {
        match self {
            Action::ConnectionSecret => "digipost",
            _ => "entity",
        }
    }

    /// The step to redo, in the words of the onboarding guide.
    pub fn instruction(self) -> &'static str {
        match self {
            Action::WebserviceAccount => {
                "e-Box refuses the client. The entity's access manager checks in ChaMan that the REST webservice \
                 account \"DocConsumer e-Box Enterprise\" still exists and is active and holds DigiPost's current \
                 certificate; if the account was removed, creates it again with DigiPost's certificate and sends \
                 DigiPost the new ClientID. Until then, read the mail in the e-Box web UI."
            }
            Action::CertificateUpload => {
                "The certificate e-Box holds for the client has expired or does not match DigiPost's key. The \
                 entity's access manager uploads DigiPost's current certificate to the \"DocConsumer e-Box \
                 Enterprise\" webservice account in ChaMan. Until then, read the mail in the e-Box web UI."
            }
            Action::DocumentConsumerRegistration => {
                "The client lacks a scope a Document Consumer needs. The entity's access manager checks the \
                 Document Consumer registration of the \"DocConsumer e-Box Enterprise\" webservice account (the \
                 e-Box Enterprise consultation and registry scopes); DigiPost checks the connection's scopes. Until \
                 then, read the mail in the e-Box web UI."
            }
            Action::ConnectionSecret => {
                "DigiPost: the connection's secret in Secrets Manager is missing, unreadable or not of the \
                 documented form (client_id, private_key_pem, certificate_pem or certificate_secret_id); put it \
                 right with `digipost-ebox connections add` or by writing the secret."
            }
        }
    }

    /// What a refused token (by e-Box or a registry) means; `None` when a later attempt may do.
    pub fn for_ebox(error: &EboxError, certificate_expired: bool) -> Option<Action> {
        match error {
            _ if certificate_expired => Some(Action::CertificateUpload),
            EboxError::ScopeRefused { .. } | EboxError::ScopeMissing { .. } => {
                Some(Action::DocumentConsumerRegistration)
            }
            EboxError::TokenRefused { code, status, .. } => match code.as_str() {
                "invalid_scope" => Some(Action::DocumentConsumerRegistration),
                "invalid_client" | "unauthorized_client" | "invalid_grant" => Some(Action::WebserviceAccount),
                _ if matches!(status, 401 | 403) => Some(Action::WebserviceAccount),
                _ => None,
            },
            EboxError::Key(_) => Some(Action::ConnectionSecret),
            _ => None,
        }
    }
}

/// A connection's health, as stored with it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub state: HealthState,
    pub since: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// The run's error, when there was one (never a secret: run errors hold none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Health {
    pub fn instruction(&self) -> Option<&'static str> {
        self.action.map(Action::instruction)
    }

    /// Whether `other` says the same: state and action, times and wording aside.
    pub fn same(&self, other: &Health) -> bool {
        self.state == other.state && self.action == other.action
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e_box_refusals_map_to_the_step_to_redo() {
        let token = |status, code: &str| EboxError::TokenRefused {
            status,
            code: code.into(),
            description: "x".into(),
        };
        assert_eq!(
            Action::for_ebox(&token(401, "invalid_client"), false),
            Some(Action::WebserviceAccount)
        );
        assert_eq!(
            Action::for_ebox(&token(403, "access_denied"), false),
            Some(Action::WebserviceAccount)
        );
        assert_eq!(
            Action::for_ebox(&token(400, "invalid_scope"), false),
            Some(Action::DocumentConsumerRegistration)
        );
        assert_eq!(
            Action::for_ebox(&token(401, "invalid_client"), true),
            Some(Action::CertificateUpload)
        );
        assert_eq!(Action::for_ebox(&token(503, "temporarily_unavailable"), false), None);
        let missing = EboxError::ScopeMissing { what: "listing".into() };
        assert_eq!(
            Action::for_ebox(&missing, false),
            Some(Action::DocumentConsumerRegistration)
        );
        let timeout = EboxError::Timeout { what: "token".into() };
        assert_eq!(Action::for_ebox(&timeout, false), None);
    }
}
