use async_trait::async_trait;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use secrecy::SecretString;

use crate::ports::{SecretError, SecretStore};

/// Secrets Manager, read with `GetSecretValue`. Wrap it in
/// [`crate::secrets_cache::CachedSecrets`] to read each secret once per warm process.
#[derive(Clone, Debug)]
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManager {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl SecretStore for SecretsManager {
    async fn get(&self, secret_id: &str) -> Result<SecretString, SecretError> {
        let id = secret_id.to_owned();
        match self.client.get_secret_value().secret_id(secret_id).send().await {
            Ok(out) => out
                .secret_string
                .map(SecretString::from)
                .ok_or(SecretError::NotAString { id }),
            Err(err) => {
                // Only the error code and message: the SDK error's Debug form is never logged,
                // so nothing of a request that carried a secret can leak through it.
                let code = err.code().unwrap_or_default().to_owned();
                Err(match code.as_str() {
                    "ResourceNotFoundException" => SecretError::NotFound { id },
                    "AccessDeniedException" => SecretError::AccessDenied { id },
                    _ => SecretError::Unavailable {
                        id,
                        retryable: super::transient(&err),
                        message: if code.is_empty() {
                            "the service could not be reached".to_owned()
                        } else {
                            format!("{code}: {}", err.message().unwrap_or_default())
                        },
                    },
                })
            }
        }
    }
}

#[async_trait]
impl crate::ports::SecretAdmin for SecretsManager {
    /// Creates the secret, or stores a new version when it exists (operator tools only).
    async fn put(&self, secret_id: &str, value: &str) -> Result<(), crate::ports::StoreError> {
        let created = self
            .client
            .create_secret()
            .name(secret_id)
            .secret_string(value)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_exists_exception()) => {
                self.client
                    .put_secret_value()
                    .secret_id(secret_id)
                    .secret_string(value)
                    .send()
                    .await
                    .map_err(|e| super::store_error("update secret", secret_id, e))?;
                Ok(())
            }
            Err(e) => Err(super::store_error("create secret", secret_id, e)),
        }
    }

    /// Schedules the secret's deletion, recoverable for a week (operator tools only).
    async fn delete(&self, secret_id: &str) -> Result<(), crate::ports::StoreError> {
        match self
            .client
            .delete_secret()
            .secret_id(secret_id)
            .recovery_window_in_days(7)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(super::store_error("delete secret", secret_id, e)),
        }
    }
}
