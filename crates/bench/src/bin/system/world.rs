//! The world a scenario runs in: the e-Box simulator with the benchmark's client, the
//! stores (in memory or on moto), and a fetcher for the benchmark entity.

use std::sync::Arc;
use std::time::Duration;

use bench::{Key, scopes};
use delivery::EntityId;
use delivery::aws::AwsClients;
use delivery::fetch::{FetchRequest, FetchSettings, Fetcher, SystemClock};
use delivery::ports::*;
use delivery::secrets_cache::CachedSecrets;
use ebox_sim::Simulator;
use serde_json::json;
use testkit::backend::{Backend, Secrets};

use crate::requests::Requests;

/// The benchmark entity: the one enterprise with mail.
pub const ENTITY: &str = "0403170701";
/// Messages a fetch delivers at once.
pub const CONCURRENCY: usize = 8;
/// How long the fetcher on moto keeps key material, as the fetch function does.
const SECRETS_CACHE_TTL: Duration = Duration::from_secs(300);

pub struct World {
    pub sim: Simulator,
    pub fetcher: Fetcher,
    /// Kept for the scenario's length: its moto server stops with it.
    _backend: Backend,
    /// The AWS requests the fetcher made ([`Stores::MotoCounted`]; none counted
    /// otherwise). The setup's are not among them.
    pub requests: Requests,
}

/// Where a world's stores are.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stores {
    Memory,
    Moto,
    /// On moto, through a proxy that counts every request (and, in this process, holds
    /// each request's body whole while it looks at it: not for measures of memory or rate).
    MotoCounted,
}

/// A simulator answering every request `latency_ms` late, stores that hold the benchmark
/// entity's connection and key material, and a fetcher over both.
pub async fn world(stores: Stores, latency_ms: u64) -> World {
    let (sim, key) = simulator().await;
    if latency_ms > 0 {
        sim.add_fault(
            serde_json::from_value(json!({"route": "any", "kind": {"type": "latency", "ms": latency_ms}})).unwrap(),
        );
    }
    let (backend, requests) = match stores {
        Stores::Memory => (Backend::memory().await, Requests::default()),
        Stores::Moto => {
            let moto = testkit::MotoServer::start();
            let clients = AwsClients::new(&testkit::sdk_for(&moto.url).await);
            (Backend::with_clients(moto, clients).await, Requests::default())
        }
        Stores::MotoCounted => counted_moto_backend().await,
    };
    let secret_id = backend.secret_name("bench");
    put_entity(&backend.secrets, &*backend.connections, &secret_id, &key).await;
    let secrets = match backend.moto {
        // As the fetch function keeps them.
        Some(_) => Arc::new(CachedSecrets::new(backend.secrets.store(), SECRETS_CACHE_TTL)),
        None => backend.secrets.store(),
    };
    let config = ebox::EboxConfig {
        scopes: scopes(),
        ..testkit::sim_ebox_config(sim.shared())
    };
    let fetcher = Fetcher {
        connections: backend.connections.clone(),
        stores: backend.stores.clone(),
        objects: backend.objects.clone(),
        secrets,
        events: backend.events.clone(),
        ebox: Arc::new(ebox::Ebox::new(config).unwrap()),
        clock: Arc::new(SystemClock),
        settings: FetchSettings {
            concurrency: CONCURRENCY,
            // The runs measured are the walks from the cursor.
            reconcile_interval: None,
            ..FetchSettings::default()
        },
    };
    // What the setup asked of AWS is not the fetcher's.
    requests.take();
    World {
        sim,
        fetcher,
        _backend: backend,
        requests,
    }
}

/// The stores on a moto server of their own, through a proxy that counts their requests.
async fn counted_moto_backend() -> (Backend, Requests) {
    let moto = testkit::MotoServer::start();
    let requests = Requests::through(testkit::fault_proxy::FaultProxy::start(&moto.url));
    let url = requests.url().expect("a proxy");
    let clients = AwsClients::new(&testkit::sdk_for(&url).await);
    (Backend::with_clients(moto, clients).await, requests)
}

/// The simulator in this process, with the benchmark client registered for the entity.
pub async fn simulator() -> (Simulator, Key) {
    bench::simulator_with_client(ENTITY).await
}

/// One message for the entity with one attachment of 200 MB.
pub fn add_big_message(sim: &Simulator) {
    bench::add_message_with_attachment(sim, ENTITY, "big", 200_000_000);
}

/// Moto's stores for a fetch process outside this one: the entity's connection and its
/// key material in place.
pub async fn put_on_moto(moto: &testkit::MotoServer, key: &Key) -> delivery::config::StorageNames {
    let clients = moto.clients().await;
    let names = moto.fresh_storage(&clients).await;
    let connections = delivery::aws::DynamoConnections::new(clients.dynamodb.clone(), &names.connections_table);
    let secret_id = testkit::unique_name("bench");
    put_entity(&Secrets::Moto(clients), &connections, &secret_id, key).await;
    names
}

/// The benchmark entity's connection, its key material in the secret `secret_id`.
async fn put_entity(secrets: &Secrets, connections: &dyn ConnectionAdmin, secret_id: &str, key: &Key) {
    let secret =
        json!({"client_id": "bench", "private_key_pem": key.private_key_pem, "certificate_pem": key.certificate_pem});
    secrets.set(secret_id, &secret.to_string()).await;
    let credentials = CredentialsRef::Secret {
        secret_id: secret_id.into(),
    };
    let id = EntityId::parse(ENTITY).unwrap();
    connections
        .put(&Connection::new(id, "bench", credentials, chrono::Utc::now()))
        .await
        .unwrap();
}

/// A fetch of the benchmark entity.
pub fn request() -> FetchRequest {
    FetchRequest {
        entity_id: ENTITY.into(),
        ..FetchRequest::default()
    }
}
