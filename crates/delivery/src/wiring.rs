//! Builds the engine from AWS clients: what a function's `main` does once per process.

use std::sync::Arc;

use crate::aws::{AwsClients, DynamoConnections, DynamoState, S3Objects, SecretsManager};
use crate::config::FetchConfig;
use crate::fetch::{Fetcher, NoCheckpoints, SystemClock};
use crate::secrets_cache::CachedSecrets;

pub fn fetcher(clients: &AwsClients, config: &FetchConfig) -> Result<Fetcher, ebox::EboxError> {
    let state = Arc::new(DynamoState::new(clients.dynamodb.clone(), &config.storage.state_table));
    Ok(Fetcher {
        connections: Arc::new(DynamoConnections::new(
            clients.dynamodb.clone(),
            &config.storage.connections_table,
        )),
        snapshots: state.clone(),
        leases: state.clone(),
        cursors: state.clone(),
        ledger: state.clone(),
        reports: state,
        objects: Arc::new(S3Objects::new(clients.s3.clone(), &config.storage.verdeelbak_bucket)),
        secrets: Arc::new(CachedSecrets::new(
            SecretsManager::new(clients.secrets.clone()),
            config.secrets_cache_ttl,
        )),
        ebox: ebox::Ebox::new(config.ebox.clone())?,
        clock: Arc::new(SystemClock),
        checkpoints: Arc::new(NoCheckpoints),
        settings: config.settings.clone(),
    })
}
