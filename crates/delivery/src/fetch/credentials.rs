//! From a connection to the ClientID and key material e-Box wants.
//!
//! Secret formats (JSON in Secrets Manager):
//! - a connection's own secret: `{"client_id": "...", "private_key_pem": "...", "certificate_pem": "..."}`
//! - or, to share DigiPost's certificate: `{"client_id": "...", "certificate_secret_id": "<secret>"}`
//! - a shared certificate secret: `{"private_key_pem": "...", "certificate_pem": "..."}`
//!
//! A connection may also keep its ClientID in its own record and point at the shared
//! certificate secret, with no secret of its own.

use std::sync::Arc;

use ebox::{ClientCredentials, KeyMaterial};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::ports::{Connection, CredentialsRef, SecretError, SecretStore};

#[derive(Deserialize)]
struct ConnectionSecret {
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    private_key_pem: Option<String>,
    #[serde(default)]
    certificate_pem: Option<String>,
    #[serde(default)]
    certificate_secret_id: Option<String>,
}

/// Why the credentials could not be had. Names secrets by id, never by content.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("secret {id:?} is not valid JSON of the documented form ({detail})")]
    Malformed { id: String, detail: String },
    #[error("secret {id:?} lacks {field}")]
    Missing { id: String, field: &'static str },
    #[error("secret {id:?}: {cause}")]
    Key { id: String, cause: ebox::KeyError },
}

impl CredentialsError {
    pub fn retryable(&self) -> bool {
        matches!(self, CredentialsError::Secret(e) if e.retryable())
    }
}

async fn read(secrets: &dyn SecretStore, id: &str) -> Result<ConnectionSecret, CredentialsError> {
    let value = secrets.get(id).await?;
    // serde's message can quote input; keep only its position.
    serde_json::from_str(value.expose_secret()).map_err(|e| CredentialsError::Malformed {
        id: id.to_owned(),
        detail: format!("line {} column {}", e.line(), e.column()),
    })
}

pub async fn resolve(
    secrets: &dyn SecretStore,
    connection: &Connection,
) -> Result<ClientCredentials, CredentialsError> {
    let (client_id, key_secret_id, key_secret) = match &connection.credentials {
        CredentialsRef::Secret { secret_id } => {
            let own = read(secrets, secret_id).await?;
            let client_id = own.client_id.clone().ok_or_else(|| CredentialsError::Missing {
                id: secret_id.clone(),
                field: "client_id",
            })?;
            match own.certificate_secret_id.clone() {
                Some(shared) => {
                    let key = read(secrets, &shared).await?;
                    (client_id, shared, key)
                }
                None => (client_id, secret_id.clone(), own),
            }
        }
        CredentialsRef::SharedCertificate {
            client_id,
            certificate_secret_id,
        } => (
            client_id.clone(),
            certificate_secret_id.clone(),
            read(secrets, certificate_secret_id).await?,
        ),
    };
    let missing = |field| CredentialsError::Missing {
        id: key_secret_id.clone(),
        field,
    };
    let private_key = key_secret
        .private_key_pem
        .as_deref()
        .ok_or_else(|| missing("private_key_pem"))?;
    let certificate = key_secret
        .certificate_pem
        .as_deref()
        .ok_or_else(|| missing("certificate_pem"))?;
    let key = KeyMaterial::from_pem(private_key, certificate).map_err(|cause| CredentialsError::Key {
        id: key_secret_id.clone(),
        cause,
    })?;
    Ok(ClientCredentials {
        client_id,
        key: Arc::new(key),
    })
}
