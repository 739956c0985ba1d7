//! Backends for the engine's tests: in-memory twins, or AWS adapters on a real moto server.
#![allow(dead_code)]

use std::sync::Arc;

use delivery::aws::{AwsClients, DynamoConnections, DynamoState, S3Objects, SecretsManager};
use delivery::memory::{MemoryConnections, MemoryObjects, MemorySecrets, MemoryState};
use delivery::ports::*;
use testkit::MotoServer;

pub struct Backend {
    pub connections: Arc<dyn ConnectionStore>,
    pub snapshots: Arc<dyn StateSnapshots>,
    pub leases: Arc<dyn LeaseStore>,
    pub cursors: Arc<dyn CursorStore>,
    pub ledger: Arc<dyn Ledger>,
    pub reports: Arc<dyn RunReportStore>,
    pub objects: Arc<dyn ObjectStore>,
    pub secrets: Secrets,
    pub _moto: Option<MotoServer>,
}

pub enum Secrets {
    Memory(Arc<MemorySecrets>),
    Moto(AwsClients),
}

impl Secrets {
    pub async fn set(&self, id: &str, value: &str) {
        match self {
            Secrets::Memory(m) => m.set(id, value),
            Secrets::Moto(clients) => {
                let exists = clients.secrets.describe_secret().secret_id(id).send().await.is_ok();
                if exists {
                    clients
                        .secrets
                        .put_secret_value()
                        .secret_id(id)
                        .secret_string(value)
                        .send()
                        .await
                        .unwrap();
                } else {
                    clients
                        .secrets
                        .create_secret()
                        .name(id)
                        .secret_string(value)
                        .send()
                        .await
                        .unwrap();
                }
            }
        }
    }

    pub fn store(&self) -> Arc<dyn SecretStore> {
        match self {
            Secrets::Memory(m) => m.clone(),
            Secrets::Moto(clients) => Arc::new(SecretsManager::new(clients.secrets.clone())),
        }
    }
}

pub async fn memory() -> Backend {
    let state = Arc::new(MemoryState::default());
    Backend {
        connections: Arc::new(MemoryConnections::default()),
        snapshots: state.clone(),
        leases: state.clone(),
        cursors: state.clone(),
        ledger: state.clone(),
        reports: state,
        objects: Arc::new(MemoryObjects::default()),
        secrets: Secrets::Memory(Arc::new(MemorySecrets::default())),
        _moto: None,
    }
}

pub async fn moto() -> Backend {
    let moto = MotoServer::start();
    let clients = moto.clients().await;
    let names = moto.fresh_storage(&clients).await;
    let state = Arc::new(DynamoState::new(clients.dynamodb.clone(), &names.state_table));
    Backend {
        connections: Arc::new(DynamoConnections::new(
            clients.dynamodb.clone(),
            &names.connections_table,
        )),
        snapshots: state.clone(),
        leases: state.clone(),
        cursors: state.clone(),
        ledger: state.clone(),
        reports: state,
        objects: Arc::new(S3Objects::new(clients.s3.clone(), &names.verdeelbak_bucket)),
        secrets: Secrets::Moto(clients),
        _moto: Some(moto),
    }
}
