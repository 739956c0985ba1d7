//! The onboarding use case: a connection from the entity's first request on, its steps
//! recorded as the platform reports them, and each test of its ClientID recorded, connected
//! when one gets through. The CLI and the connections API call these; the rules of the
//! trajectory are [`crate::onboarding`]'s.

use chrono::{DateTime, Utc};

use crate::EntityId;
use crate::onboarding::{AlreadyPast, Onboarding, Step};
use crate::ports::{Connection, ConnectionAdmin, CredentialsRef, Insert, StoreError};
use crate::probe::Verdict;

/// Why an onboarding step was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum OnboardError {
    #[error("entity {0}: no connection; request one first")]
    NoConnection(EntityId),
    #[error("entity {0} already has a connection")]
    Exists(EntityId),
    #[error("entity {entity}: {past}")]
    AlreadyPast { entity: EntityId, past: AlreadyPast },
    #[error("entity {entity}: step {step} is recorded by a test of the ClientID, not reported")]
    NotReported { entity: EntityId, step: Step },
    /// Removed or changed since it was read (a test, a disable): nothing was written.
    #[error("entity {0}: the connection was changed or removed meanwhile; read it again")]
    Changed(EntityId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A connection for an entity that asked for one: no ClientID yet, left alone by fetch.
pub async fn request(
    connections: &dyn ConnectionAdmin,
    entity: EntityId,
    name: &str,
    facilipunt_reference: Option<String>,
    now: DateTime<Utc>,
) -> Result<Connection, OnboardError> {
    let mut connection = Connection::new(entity.clone(), name, CredentialsRef::AwaitingClientId, now);
    connection.onboarding = Some(Onboarding::requested(facilipunt_reference, now));
    match connections.insert(&connection).await? {
        Insert::Inserted => Ok(connection),
        Insert::AlreadyExists => Err(OnboardError::Exists(entity)),
    }
}

/// Records a step the platform reports: the certificate handed over (which one), or the
/// entity at work on its side (waiting for the ClientID).
pub async fn reach(
    connections: &dyn ConnectionAdmin,
    entity: &EntityId,
    step: Step,
    certificate: Option<String>,
    now: DateTime<Utc>,
) -> Result<Connection, OnboardError> {
    if step > Step::WaitingForClientId {
        return Err(OnboardError::NotReported {
            entity: entity.clone(),
            step,
        });
    }
    let mut connection = connections
        .get(entity)
        .await?
        .ok_or_else(|| OnboardError::NoConnection(entity.clone()))?;
    if connection.onboarding.is_none() && connection.is_connected() {
        // Made before onboardings were kept, and delivering: past every reported step.
        let past = AlreadyPast {
            at: Step::Connected,
            asked: step,
        };
        return Err(OnboardError::AlreadyPast {
            entity: entity.clone(),
            past,
        });
    }
    let seen = connection.updated_at;
    let onboarding = connection.onboarding.get_or_insert_with(Onboarding::default);
    onboarding.reach(step, now).map_err(|past| OnboardError::AlreadyPast {
        entity: entity.clone(),
        past,
    })?;
    if step == Step::CertificateHandedOver && certificate.is_some() {
        onboarding.certificate = certificate;
    }
    let onboarding = onboarding.clone();
    if !connections.set_onboarding(entity, &onboarding, seen, now).await? {
        return Err(OnboardError::Changed(entity.clone()));
    }
    connection.updated_at = now;
    Ok(connection)
}

/// Records a test of the connection's ClientID in its onboarding: connected when it got
/// through, else the refusal and the step to redo. A connection already connected (or made
/// before onboardings were kept) is left as it is: its health tells how it fares.
pub async fn record_test(
    connections: &dyn ConnectionAdmin,
    connection: &mut Connection,
    verdict: &Verdict,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if connection.credentials == CredentialsRef::AwaitingClientId {
        return Ok(());
    }
    let Some(onboarding) = connection.onboarding.as_mut().filter(|o| !o.connected()) else {
        return Ok(());
    };
    onboarding.tested(verdict.refusal(), now);
    let onboarding = onboarding.clone();
    let seen = connection.updated_at;
    if connections
        .set_onboarding(&connection.entity_id, &onboarding, seen, now)
        .await?
    {
        connection.updated_at = now;
        return Ok(());
    }
    Err(StoreError::new(
        "record the test",
        connection.entity_id.as_str(),
        "the connection was changed or removed meanwhile; test it again",
    ))
}
