//! Administering connections, as DigiPost's "connecties" tab does: add one (its key
//! material checked before anything is stored), test it, enable, disable, remove. The CLI
//! and the connections API both call these, so both check, store and answer the same way.

use chrono::{DateTime, Utc};
use ebox::{CertificateInfo, KeyMaterial};
use secrecy::{ExposeSecret, SecretString};

use crate::EntityId;
use crate::fetch::credentials;
use crate::onboarding::Step;
use crate::ports::{Connection, ConnectionAdmin, CredentialsRef, Insert, SecretAdmin, StoreError};
use crate::probe::Verdict;
use crate::secret::ConnectionSecret;

/// What administering needs: the connections, the secrets, and where secrets are named.
pub struct Admin<'a> {
    pub connections: &'a dyn ConnectionAdmin,
    pub secrets: &'a dyn SecretAdmin,
    /// Connection secrets are named `<prefix>connections/<entity>/<made at>-<nonce>`.
    pub secrets_prefix: &'a str,
}

/// Where a new connection's key material comes from.
pub enum KeySource {
    /// Its own secret: DigiPost's private key and the certificate registered with the
    /// entity's REST account, both PEM.
    Pem {
        private_key_pem: SecretString,
        certificate_pem: String,
    },
    /// DigiPost's shared certificate secret, by id: no secret of the connection's own.
    SharedCertificate(String),
}

/// A connection to add: the entity's ClientID and the key material it was made with.
pub struct NewConnection {
    pub entity: EntityId,
    pub name: String,
    pub client_id: String,
    pub key: KeySource,
    /// Verdeelbak prefix; `verdeelbak/<entity>/` when none.
    pub prefix: Option<String>,
    /// Scopes its token requests name, when not the configured ones.
    pub scopes: Option<Vec<String>>,
}

/// What adding stored.
pub struct Added {
    pub connection: Connection,
    /// The certificate of the key material stored in the connection's own secret.
    pub certificate: Option<CertificateInfo>,
}

/// Why an administrative change was not made. Each names the entity and the step; none
/// holds key material or a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request is at fault, in `field`; nothing was stored.
    #[error("entity {entity}: step {step}: {message}")]
    Invalid {
        entity: String,
        step: &'static str,
        field: &'static str,
        message: String,
    },
    #[error("entity {0}: no connection")]
    NotFound(EntityId),
    /// The connection is not in a state that allows it; nothing was changed.
    #[error("entity {entity}: {message}")]
    Conflict { entity: EntityId, message: String },
    /// A store failed; what was stored before it is undone where it can be.
    #[error("entity {entity}: step {step}: {cause}")]
    Store {
        entity: EntityId,
        step: &'static str,
        cause: StoreError,
    },
}

impl AdminError {
    fn store(entity: &EntityId, step: &'static str) -> impl FnOnce(StoreError) -> Self {
        let entity = entity.clone();
        move |cause| AdminError::Store { entity, step, cause }
    }

    fn invalid(entity: &EntityId, step: &'static str, field: &'static str, message: impl Into<String>) -> Self {
        AdminError::Invalid {
            entity: entity.to_string(),
            step,
            field,
            message: message.into(),
        }
    }
}

/// The certificate has not expired: an expired one is refused with what to do instead.
pub fn not_expired(key: &KeyMaterial, now: DateTime<Utc>) -> Result<(), String> {
    let certificate = key.certificate();
    if certificate.not_after <= now {
        return Err(format!(
            "the certificate ({}) expired on {}: use DigiPost's current certificate \
             (`digipost-ebox certificate status` shows the one in use) and upload it to the entity's REST account",
            certificate.subject,
            certificate.not_after.date_naive()
        ));
    }
    Ok(())
}

/// Key material fit to be stored: the key belongs to the certificate, which has not expired.
pub fn usable_key_material(key_pem: &str, cert_pem: &str, now: DateTime<Utc>) -> Result<KeyMaterial, String> {
    let key = KeyMaterial::from_pem(key_pem, cert_pem).map_err(|e| e.to_string())?;
    not_expired(&key, now)?;
    Ok(key)
}

impl Admin<'_> {
    /// Adds the connection, or completes an onboarding that waits for its ClientID: the key
    /// material is checked first, then stored, then the connection written. Nothing is left
    /// half-stored: a secret made for a connection that could not be written goes again.
    pub async fn add(&self, new: NewConnection, now: DateTime<Utc>) -> Result<Added, AdminError> {
        let id = &new.entity;
        if let Some(prefix) = &new.prefix {
            crate::verdeelbak::keys::check_prefix(prefix, id)
                .map_err(|e| AdminError::invalid(id, "input", "verdeelbak_prefix", e.to_string()))?;
        }
        if new.client_id.trim().is_empty() || new.client_id.len() > 200 {
            return Err(AdminError::invalid(
                id,
                "input",
                "client_id",
                "the ClientID is empty or too long",
            ));
        }
        if new.name.trim().is_empty() || new.name.len() > 200 {
            return Err(AdminError::invalid(
                id,
                "input",
                "name",
                "the name is empty or too long",
            ));
        }
        let awaiting = match self
            .connections
            .get(id)
            .await
            .map_err(AdminError::store(id, "connection"))?
        {
            Some(c) if c.credentials == CredentialsRef::AwaitingClientId => Some(c),
            Some(_) => {
                return Err(AdminError::Conflict {
                    entity: id.clone(),
                    message: format!(
                        "already has a connection: `connections show --entity {id}`; remove it first to replace it"
                    ),
                });
            }
            None => None,
        };
        let (credentials, certificate) = match &new.key {
            KeySource::SharedCertificate(shared) => (self.shared(&new, shared, now).await?, None),
            KeySource::Pem {
                private_key_pem,
                certificate_pem,
            } => {
                let (credentials, certificate) = self
                    .own_secret(id, &new.client_id, private_key_pem, certificate_pem, now)
                    .await?;
                (credentials, Some(certificate))
            }
        };
        let mut connection = Connection::new(id.clone(), new.name.clone(), credentials, now);
        if let Some(prefix) = new.prefix {
            connection.verdeelbak_prefix = prefix;
        }
        connection.scopes = new.scopes;
        if let Some(awaiting) = &awaiting {
            connection.created_at = awaiting.created_at;
            connection.enabled = awaiting.enabled;
        }
        let mut onboarding = awaiting.as_ref().and_then(|c| c.onboarding.clone()).unwrap_or_default();
        onboarding
            .reach(Step::ClientIdReceived, now)
            .map_err(|past| AdminError::Conflict {
                entity: id.clone(),
                message: past.to_string(),
            })?;
        connection.onboarding = Some(onboarding);
        let written = match &awaiting {
            // Completed only if the onboarding is still as it was read.
            Some(read) => match self.connections.replace(&connection, read.updated_at).await {
                Ok(true) => Ok(Insert::Inserted),
                Ok(false) => Ok(Insert::AlreadyExists),
                Err(e) => Err(e),
            },
            None => self.connections.insert(&connection).await,
        };
        match written {
            Ok(Insert::Inserted) => Ok(Added {
                connection,
                certificate,
            }),
            Ok(Insert::AlreadyExists) => {
                self.undo(&connection).await;
                Err(AdminError::Conflict {
                    entity: id.clone(),
                    message: "its connection was added or changed meanwhile; nothing was changed".into(),
                })
            }
            Err(e) => {
                // The write may have landed though its answer was lost: a connection that
                // holds this secret keeps it.
                if let Ok(Some(stored)) = self.connections.get(id).await
                    && stored.credentials == connection.credentials
                {
                    return Ok(Added {
                        connection: stored,
                        certificate,
                    });
                }
                self.undo(&connection).await;
                Err(AdminError::store(id, "connection")(e))
            }
        }
    }

    /// The secret made for a connection that was not written goes again.
    async fn undo(&self, connection: &Connection) {
        if let CredentialsRef::Secret { secret_id } = &connection.credentials
            && let Err(e) = self.secrets.delete(secret_id).await
        {
            tracing::warn!(error = %e, secret_id, "a secret made for a connection not written is left");
        }
    }

    /// A connection on DigiPost's shared certificate secret, which must hold usable key
    /// material before anything is written.
    async fn shared(
        &self,
        new: &NewConnection,
        shared: &str,
        now: DateTime<Utc>,
    ) -> Result<CredentialsRef, AdminError> {
        let id = &new.entity;
        let credentials = CredentialsRef::SharedCertificate {
            client_id: new.client_id.clone(),
            certificate_secret_id: shared.to_owned(),
        };
        let probe = Connection::new(id.clone(), new.name.clone(), credentials.clone(), now);
        let unusable = |cause: String| {
            let message = format!("the shared certificate secret {shared} is not usable: {cause}");
            AdminError::invalid(id, "secret", "shared_certificate", message)
        };
        let key = credentials::resolve(self.secrets, &probe)
            .await
            .map_err(|e| unusable(e.to_string()))?;
        not_expired(&key.key, now).map_err(unusable)?;
        Ok(credentials)
    }

    /// The connection's own secret with its key material, refused before anything is
    /// stored when the key is not the certificate's or the certificate has expired.
    async fn own_secret(
        &self,
        id: &EntityId,
        client_id: &str,
        private_key_pem: &SecretString,
        certificate_pem: &str,
        now: DateTime<Utc>,
    ) -> Result<(CredentialsRef, CertificateInfo), AdminError> {
        let key = usable_key_material(private_key_pem.expose_secret(), certificate_pem, now).map_err(|e| {
            let message = format!("{e}: refused before anything was stored");
            AdminError::invalid(id, "key material", "private_key_pem", message)
        })?;
        // A name of its own for each add: two adds at once never write one secret, the one
        // that loses deletes only its own, and a removed connection's secret (kept 7 days
        // for recovery) is not in the way of adding the entity again.
        let made = now.format("%Y%m%dT%H%M%SZ");
        let nonce = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let secret_id = format!("{}connections/{id}/{made}-{nonce}", self.secrets_prefix);
        let secret = ConnectionSecret::with_key_material(client_id, private_key_pem.expose_secret(), certificate_pem);
        self.secrets
            .put(&secret_id, &secret.encode())
            .await
            .map_err(AdminError::store(id, "secret"))?;
        Ok((CredentialsRef::Secret { secret_id }, key.certificate().clone()))
    }

    /// Tests the connection with this process's e-Box client (or why there is none), and
    /// records the test in its onboarding: connected when it got through.
    /// A test whose recording fails is still answered (the next test records it).
    pub async fn test(
        &self,
        ebox: Result<&ebox::Ebox, String>,
        connection: &mut Connection,
        now: DateTime<Utc>,
    ) -> Verdict {
        let verdict = crate::probe::probe(self.secrets, ebox, connection).await;
        if let Err(e) = crate::onboard::record_test(self.connections, connection, &verdict, now).await {
            tracing::warn!(entity_id = %connection.entity_id, error = %e, "the test is not recorded in the onboarding");
        }
        verdict
    }

    /// The entity's connection.
    pub async fn existing(&self, id: &EntityId) -> Result<Connection, AdminError> {
        (self.connections.get(id).await)
            .map_err(AdminError::store(id, "connection"))?
            .ok_or_else(|| AdminError::NotFound(id.clone()))
    }

    pub async fn set_enabled(&self, id: &EntityId, enabled: bool, now: DateTime<Utc>) -> Result<(), AdminError> {
        match self.connections.set_enabled(id, enabled, now).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(AdminError::NotFound(id.clone())),
            Err(e) => Err(AdminError::store(id, "connection")(e)),
        }
    }

    /// Removes the connection; its own secret is scheduled for deletion (7 days to
    /// recover), a shared one stays. Returns the secret scheduled, if any.
    pub async fn remove(&self, id: &EntityId) -> Result<Option<String>, AdminError> {
        let connection = self.existing(id).await?;
        (self.connections.remove(id).await).map_err(AdminError::store(id, "connection"))?;
        match &connection.credentials {
            CredentialsRef::Secret { secret_id } => {
                (self.secrets.delete(secret_id).await).map_err(AdminError::store(id, "secret"))?;
                Ok(Some(secret_id.clone()))
            }
            _ => Ok(None),
        }
    }
}
