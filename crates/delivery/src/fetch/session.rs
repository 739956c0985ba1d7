//! Opening a run's e-Box session: the credentials, the first key pair e-Box accepts, and
//! provider discovery; a refusal only a person can mend says which step to redo.

use std::sync::Arc;

use super::failure::fail;
use super::{Clock, ProviderReport, ProviderStatus, RunError, RunReport, Step, credentials};
use crate::EntityId;
use crate::health::Action;
use crate::ports::*;

/// The step that opens the entity's e-Box session: its connection, the secrets that hold
/// its key material, and e-Box.
pub(super) struct Opening<'a> {
    pub entity: &'a EntityId,
    pub connection: &'a Connection,
    pub secrets: &'a dyn SecretStore,
    pub ebox: &'a dyn EboxService,
    pub clock: &'a dyn Clock,
}

impl Opening<'_> {
    /// The entity's e-Box session, with a token, and its providers; an entry of the
    /// registry that could not be read skips that provider only, and says so.
    pub(super) async fn open(
        &self,
        report: &mut RunReport,
    ) -> Result<(Arc<dyn Mailbox>, Arc<ebox::model::Discovery>), RunError> {
        let (entity, connection) = (self.entity, self.connection);
        let pairs = self.key_pairs(report).await?;
        let (session, expired) = match self.authenticate(&pairs, report).await {
            // Refused: the key material may have changed since this process read it (a
            // certificate promoted, a secret put right). Read again, and try once more.
            Err(refused) if report.needs_action.is_some() => {
                for id in credentials::secret_ids(connection, &pairs) {
                    self.secrets.forget(id).await;
                }
                let again = self.key_pairs(report).await?;
                if credentials::thumbprints(&again) == credentials::thumbprints(&pairs) {
                    return Err(refused);
                }
                tracing::info!("the key material changed since it was read; trying the new one");
                report.needs_action = None;
                self.authenticate(&again, report).await?
            }
            other => other?,
        };
        // A refusal only a person can mend says which step to redo.
        let refused = |step: Step, e: ebox::EboxError, report: &mut RunReport| {
            report.needs_action = Action::for_ebox(&e, expired);
            fail(step, format!("entity {entity}: {e}"), e.retryable())
        };
        let discovery = match session.providers().await {
            Ok(d) => d,
            Err(e) => return Err(refused(Step::Providers, e, report)),
        };
        for skipped in &discovery.skipped {
            report.providers.push(ProviderReport {
                provider_id: skipped.provider_id.clone().unwrap_or_else(|| "(no id)".into()),
                state: ProviderStatus::Failed,
                error: Some(format!("provider discovery: {}", skipped.reason)),
                ..ProviderReport::default()
            });
        }
        Ok((session, discovery))
    }

    /// The connection's key pairs, as its secrets hold them now.
    async fn key_pairs(&self, report: &mut RunReport) -> Result<credentials::KeyPairs, RunError> {
        let entity = self.entity;
        credentials::resolve_pairs(self.secrets, self.connection)
            .await
            .map_err(|e| {
                report.needs_action = (!e.retryable()).then_some(Action::ConnectionSecret);
                fail(Step::Secret, format!("entity {entity}: {e}"), e.retryable())
            })
    }

    /// A session with the first key pair e-Box accepts: during a rotation the next pair,
    /// else the current one. Whether the certificate in use has expired comes with it.
    async fn authenticate(
        &self,
        pairs: &credentials::KeyPairs,
        report: &mut RunReport,
    ) -> Result<(Arc<dyn Mailbox>, bool), RunError> {
        let (entity, connection) = (self.entity, self.connection);
        let opened = pairs
            .first_accepted(|credentials| {
                let session = self.ebox.open(credentials.clone(), connection.scopes.clone());
                async move { session.authenticate().await.map(|()| session) }
            })
            .await;
        let (result, credentials) = match opened {
            Ok((session, pair, credentials)) => {
                report.certificate_pair = Some(pair);
                report.certificate_thumbprint = Some(credentials.key.certificate().sha256_thumbprint.clone());
                (Ok(session), credentials)
            }
            Err((e, credentials)) => (Err(e), credentials),
        };
        let not_after = credentials.key.certificate().not_after;
        report.certificate_expires_at = Some(not_after);
        let expired = not_after <= self.clock.now();
        match result {
            Ok(session) => Ok((session, expired)),
            Err(e) => {
                report.needs_action = Action::for_ebox(&e, expired);
                Err(fail(Step::Token, format!("entity {entity}: {e}"), e.retryable()))
            }
        }
    }
}
