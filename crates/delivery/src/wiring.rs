//! Builds the engine from AWS clients: what a function's `main` does once per process.

use std::sync::Arc;

use crate::aws::{AwsClients, DynamoConnections, EventBridgeBus, LambdaDispatcher, S3Objects, SecretsManager};
use crate::config::{FanoutConfig, FetchConfig};
use crate::fanout::{Fanout, FleetWatch};
use crate::fetch::{Fetcher, SystemClock};
use crate::secrets_cache::CachedSecrets;
use crate::stores::Stores;

pub fn fetcher(clients: &AwsClients, config: &FetchConfig) -> Result<Fetcher, ebox::EboxError> {
    let names = &config.storage;
    let connections = DynamoConnections::new(clients.dynamodb.clone(), &names.connections_table);
    let secrets = SecretsManager::new(clients.secrets.clone());
    Ok(Fetcher {
        connections: Arc::new(connections),
        stores: Stores::aws(clients, names),
        objects: Arc::new(S3Objects::new(clients, &names.verdeelbak_bucket)),
        secrets: Arc::new(CachedSecrets::new(secrets, config.secrets_cache_ttl)),
        ebox: Arc::new(ebox::Ebox::new(config.ebox.clone())?),
        events: Arc::new(EventBridgeBus::new(clients.events.clone(), &names.event_bus)),
        clock: Arc::new(SystemClock),
        settings: config.settings.clone(),
    })
}

pub fn fanout(clients: &AwsClients, config: &FanoutConfig) -> Fanout {
    let db = &clients.dynamodb;
    let dispatcher = LambdaDispatcher::new(clients.lambda.clone(), &config.fetch_function_name);
    Fanout {
        connections: Arc::new(DynamoConnections::new(db.clone(), &config.connections_table)),
        dispatcher: Arc::new(dispatcher),
        settings: config.settings.clone(),
        fleet: config.fleet.clone().map(|rules| FleetWatch {
            reports: Arc::new(crate::aws::DynamoState::new(db.clone(), &config.state_table)),
            rules,
            clock: Arc::new(SystemClock),
        }),
    }
}
