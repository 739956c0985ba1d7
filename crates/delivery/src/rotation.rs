//! DigiPost's certificate renewed across every entity: the next pair staged in a secret,
//! each connection moving to it as its entity uploads it (fetch tries the next pair first),
//! then promoted once all have. The CLI and the connections API only ask and print.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::EntityId;
use crate::fetch::credentials::{self, Pair};
use crate::ports::{Connection, ConnectionAdmin, RunReportStore, SecretStore, StoreError};
use crate::secret::ConnectionSecret;

/// Where one connection stands in a rotation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Serialize)]
pub struct RotationRow {
    pub entity_id: String,
    pub name: String,
    pub secret_id: Option<String>,
    /// Whether that secret holds a next pair.
    pub rotating: bool,
    /// The pair its last run authenticated with; none before a run since the rotation began.
    pub on: Option<Pair>,
    pub current_days_left: Option<i64>,
    pub error: Option<String>,
}

impl RotationRow {
    /// Still to move: its secret is rotating and its last run was not on the next pair.
    pub fn lags(&self) -> bool {
        self.rotating && self.on != Some(Pair::Next)
    }
}

/// Every connection's row, those still to move first. The last runs are read in batches,
/// and each secret once however many connections share it.
pub async fn rows<S: SecretStore>(
    connections: &[Connection],
    reports: &dyn RunReportStore,
    secrets: S,
    now: DateTime<Utc>,
) -> Result<Vec<RotationRow>, StoreError> {
    let ids: Vec<EntityId> = connections.iter().map(|c| c.entity_id.clone()).collect();
    let used: HashMap<_, _> = reports
        .get_last_many(&ids)
        .await?
        .into_iter()
        .filter_map(|(id, r)| Some((id, r.report()?.certificate_thumbprint.clone()?)))
        .collect();
    let secrets = crate::secrets_cache::CachedSecrets::new(secrets, std::time::Duration::from_secs(300));
    let mut rows = Vec::new();
    for c in connections {
        rows.push(row(&secrets, c, used.get(&c.entity_id).map(String::as_str), now).await);
    }
    rows.sort_by_key(|r| (!r.lags(), r.entity_id.clone()));
    Ok(rows)
}

/// A connection's row: which of its secret's pairs has the thumbprint its last run used.
async fn row(secrets: &dyn SecretStore, c: &Connection, used: Option<&str>, now: DateTime<Utc>) -> RotationRow {
    let mut row = RotationRow {
        entity_id: c.entity_id.to_string(),
        name: c.name.clone(),
        ..RotationRow::default()
    };
    match credentials::resolve_pairs(secrets, c).await {
        Ok(pairs) => {
            row.secret_id = Some(pairs.secret_id.clone());
            row.rotating = pairs.next.is_some();
            row.current_days_left = Some((pairs.current.key.certificate().not_after - now).num_days());
            row.on = pairs
                .in_order()
                .into_iter()
                .find(|(_, p)| used == Some(p.key.certificate().sha256_thumbprint.as_str()))
                .map(|(pair, _)| pair);
        }
        Err(e) => row.error = Some(e.to_string()),
    }
    row
}

/// Marks every connection whose key material `secret_id` holds as changed now, so its next
/// run reads the secret again (warm processes keep it a while) and uses the new pair; how many.
pub async fn touch_connections(
    connections: &dyn ConnectionAdmin,
    rows: &[RotationRow],
    secret_id: &str,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut touched = 0;
    for row in rows.iter().filter(|r| r.secret_id.as_deref() == Some(secret_id)) {
        let Ok(entity) = EntityId::parse(&row.entity_id) else {
            continue;
        };
        touched += usize::from(connections.touch(&entity, now).await?);
    }
    Ok(touched)
}

/// Why a promotion is refused: the secret's connections still on the current pair.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} connection(s) using {secret} were not last seen on the next certificate: {}; they must upload it to their \
     REST account first (or force it, and their mail stops)",
    laggards.len(),
    laggards.join(", ")
)]
pub struct PromotionRefused {
    pub secret: String,
    /// "entity (name)" of each.
    pub laggards: Vec<String>,
}

/// Why a secret's next pair was not promoted.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error(transparent)]
    Format(#[from] crate::secret::SecretFormatError),
    #[error(transparent)]
    Refused(#[from] PromotionRefused),
}

/// The secret with its next pair promoted, unless a connection using it lags and not `force`.
pub fn promote(
    secret_id: &str,
    mut secret: ConnectionSecret,
    rows: &[RotationRow],
    force: bool,
) -> Result<ConnectionSecret, PromoteError> {
    secret.promote(secret_id)?;
    let laggards: Vec<String> = rows
        .iter()
        .filter(|r| r.secret_id.as_deref() == Some(secret_id) && r.on != Some(Pair::Next))
        .map(|r| format!("{} ({})", r.entity_id, r.name))
        .collect();
    if !laggards.is_empty() && !force {
        return Err(PromotionRefused {
            secret: secret_id.to_owned(),
            laggards,
        }
        .into());
    }
    Ok(secret)
}
