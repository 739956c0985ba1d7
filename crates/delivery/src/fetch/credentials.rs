//! From a connection to the ClientID and key material e-Box wants: the current pair, and
//! the next one during a certificate rotation (tried first, until it is promoted). The
//! secret's format is [`crate::secret`]'s. A connection may also keep its ClientID in
//! its own record and point at the shared certificate secret, with no secret of its own.

use std::sync::Arc;

use ebox::{ClientCredentials, KeyMaterial};
use secrecy::ExposeSecret;

use crate::ports::{Connection, CredentialsRef, SecretError, SecretStore};
use crate::secret::{ConnectionSecret, SecretFormatError};

/// Why the credentials could not be had. Names secrets by id, never by content.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Format(#[from] SecretFormatError),
    #[error("secret {id:?} lacks {field}")]
    Missing { id: String, field: &'static str },
    #[error("secret {id:?}: {cause}")]
    Key { id: String, cause: ebox::KeyError },
    #[error("the connection has no ClientID yet (onboarding)")]
    NoClientId,
}

impl CredentialsError {
    pub fn retryable(&self) -> bool {
        matches!(self, CredentialsError::Secret(e) if e.retryable())
    }
}

/// The secret, as it was when the connection last changed or later.
async fn read(
    secrets: &dyn SecretStore,
    id: &str,
    connection: &Connection,
) -> Result<ConnectionSecret, CredentialsError> {
    let value = secrets.get_as_of(id, connection.updated_at).await?;
    Ok(ConnectionSecret::decode(id, value.expose_secret())?)
}

pub use crate::run::Pair;

/// A connection's credentials: the current pair, and the next one during a rotation.
pub struct KeyPairs {
    pub current: ClientCredentials,
    pub next: Option<ClientCredentials>,
    /// The secret that holds the key material (the connection's own, or the shared one).
    pub secret_id: String,
}

impl KeyPairs {
    /// The pairs to try, in order: the next one first.
    pub fn in_order(&self) -> Vec<(Pair, &ClientCredentials)> {
        let next = self.next.iter().map(|c| (Pair::Next, c));
        next.chain([(Pair::Current, &self.current)]).collect()
    }

    /// What `open` makes of the first pair e-Box accepts, tried as every caller tries
    /// them: the next pair first, and the current one when e-Box refuses the next (not yet
    /// uploaded to the entity's account). Else the error of the last pair tried, with it.
    pub async fn first_accepted<T, F, Fut>(
        &self,
        open: F,
    ) -> Result<(T, Pair, &ClientCredentials), (ebox::EboxError, &ClientCredentials)>
    where
        F: Fn(&ClientCredentials) -> Fut,
        Fut: std::future::Future<Output = Result<T, ebox::EboxError>>,
    {
        if let Some(next) = &self.next {
            match open(next).await {
                Ok(opened) => return Ok((opened, Pair::Next, next)),
                Err(ebox::EboxError::TokenRefused { .. }) => {
                    tracing::info!("e-Box refused the next certificate; the current one is tried");
                }
                Err(e) => return Err((e, next)),
            }
        }
        match open(&self.current).await {
            Ok(opened) => Ok((opened, Pair::Current, &self.current)),
            Err(e) => Err((e, &self.current)),
        }
    }
}

/// The secrets a connection's key pairs were read from: its own, and the shared one.
pub fn secret_ids<'a>(connection: &'a Connection, pairs: &'a KeyPairs) -> Vec<&'a str> {
    let own = match &connection.credentials {
        CredentialsRef::Secret { secret_id } => Some(secret_id.as_str()),
        CredentialsRef::SharedCertificate { .. } | CredentialsRef::AwaitingClientId => None,
    };
    own.into_iter().chain([pairs.secret_id.as_str()]).collect()
}

/// What tells one set of key pairs from another: the certificates' thumbprints.
pub fn thumbprints(pairs: &KeyPairs) -> Vec<String> {
    pairs
        .in_order()
        .iter()
        .map(|(_, c)| c.key.certificate().sha256_thumbprint.clone())
        .collect()
}

/// The current pair only.
pub async fn resolve(
    secrets: &dyn SecretStore,
    connection: &Connection,
) -> Result<ClientCredentials, CredentialsError> {
    Ok(resolve_pairs(secrets, connection).await?.current)
}

/// Both pairs. A next pair that is unusable (half there, not PEM, key and certificate not
/// matching) is left out with a warning: the current one still works.
pub async fn resolve_pairs(secrets: &dyn SecretStore, connection: &Connection) -> Result<KeyPairs, CredentialsError> {
    let (client_id, key_secret_id, key_secret) = match &connection.credentials {
        CredentialsRef::Secret { secret_id } => {
            let own = read(secrets, secret_id, connection).await?;
            let client_id = own.client_id.clone().ok_or_else(|| CredentialsError::Missing {
                id: secret_id.clone(),
                field: "client_id",
            })?;
            match own.certificate_secret_id.clone() {
                Some(shared) => {
                    let key = read(secrets, &shared, connection).await?;
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
            read(secrets, certificate_secret_id, connection).await?,
        ),
        CredentialsRef::AwaitingClientId => return Err(CredentialsError::NoClientId),
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
    let next = next_pair(&key_secret, &key_secret_id);
    Ok(KeyPairs {
        next: next.map(|key| ClientCredentials {
            client_id: client_id.clone(),
            key: Arc::new(key),
        }),
        current: ClientCredentials {
            client_id,
            key: Arc::new(key),
        },
        secret_id: key_secret_id,
    })
}

/// The next key pair of a secret, when it holds a usable one.
fn next_pair(secret: &ConnectionSecret, secret_id: &str) -> Option<KeyMaterial> {
    match (&secret.next_private_key_pem, &secret.next_certificate_pem) {
        (None, None) => None,
        (Some(key), Some(cert)) => match KeyMaterial::from_pem(key, cert) {
            Ok(next) => Some(next),
            Err(cause) => {
                tracing::warn!(%secret_id, error = %cause, "the next key pair is not usable; the current one is used");
                None
            }
        },
        _ => {
            tracing::warn!(%secret_id, "the next key pair is half there (key or certificate); the current one is used");
            None
        }
    }
}
