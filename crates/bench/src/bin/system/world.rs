//! The world a scenario runs in: the e-Box simulator with the benchmark's client, the
//! stores (in memory or on moto), and a fetcher for the benchmark entity.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::SharedInterceptor;
use bench::{Key, key, scopes};
use delivery::EntityId;
use delivery::aws::AwsClients;
use delivery::fetch::{FetchRequest, FetchSettings, Fetcher, SystemClock};
use delivery::ports::*;
use ebox_sim::{SimConfig, Simulator};
use serde_json::json;
use testkit::memory::{MemoryConnections, MemoryObjects, MemorySecrets};

use crate::requests::Requests;

/// The benchmark entity: the one enterprise with mail.
pub const ENTITY: &str = "0403170701";
/// Messages a fetch delivers at once.
pub const CONCURRENCY: usize = 8;
/// Where the benchmark client's key material is kept.
const SECRET_ID: &str = "bench-secret";

pub struct Backend {
    pub connections: Arc<dyn ConnectionAdmin>,
    pub state: delivery::stores::Stores,
    pub objects: Arc<dyn ObjectStore>,
    pub secrets: Arc<dyn SecretStore>,
    pub events: Arc<dyn EventBus>,
    /// The AWS requests made through these stores (on moto; none in memory).
    pub requests: Requests,
    /// The moto server the stores are on, if they are.
    pub moto: Option<testkit::MotoServer>,
}

pub struct World {
    pub sim: Simulator,
    pub fetcher: Fetcher,
    pub stores: Backend,
}

/// A simulator answering every request `latency_ms` late, stores that hold the benchmark
/// entity's connection and key material, and a fetcher over both.
pub async fn world(on_moto: bool, latency_ms: u64) -> World {
    let (sim, key) = simulator().await;
    if latency_ms > 0 {
        sim.add_fault(
            serde_json::from_value(json!({"route": "any", "kind": {"type": "latency", "ms": latency_ms}})).unwrap(),
        );
    }
    let stores = if on_moto {
        moto_stores(&secret(&key)).await
    } else {
        memory_stores(&secret(&key))
    };
    let id = EntityId::parse(ENTITY).unwrap();
    stores.connections.put(&bench_connection(id)).await.unwrap();
    let config = ebox::EboxConfig {
        scopes: scopes(),
        ..testkit::sim_ebox_config(sim.shared())
    };
    let fetcher = Fetcher {
        connections: stores.connections.clone(),
        stores: stores.state.clone(),
        objects: stores.objects.clone(),
        secrets: stores.secrets.clone(),
        events: stores.events.clone(),
        ebox: Arc::new(ebox::Ebox::new(config).unwrap()),
        clock: Arc::new(SystemClock),
        settings: FetchSettings {
            concurrency: CONCURRENCY,
            // The runs measured are the walks from the cursor.
            reconcile_interval: None,
            ..FetchSettings::default()
        },
    };
    World { sim, fetcher, stores }
}

fn memory_stores(secret: &str) -> Backend {
    // The memory twin of the secret store is only reachable through its concrete type.
    let secrets = MemorySecrets::default();
    secrets.set(SECRET_ID, secret);
    Backend {
        connections: Arc::new(MemoryConnections::default()),
        state: testkit::memory::memory_stores(),
        objects: Arc::new(MemoryObjects::default()),
        secrets: Arc::new(secrets),
        events: Arc::new(testkit::memory::MemoryBus::default()),
        requests: Requests::default(),
        moto: None,
    }
}

/// Stores on a moto server of their own, through clients that count their requests.
async fn moto_stores(secret: &str) -> Backend {
    let requests = Requests::default();
    let moto = testkit::MotoServer::start();
    let sdk = testkit::sdk_for(&moto.url).await;
    let clients = testkit::with_interceptor(&AwsClients::new(&sdk), SharedInterceptor::new(requests.clone()));
    let names = moto.fresh_storage(&clients).await;
    let config = delivery::config::FetchConfig {
        storage: names,
        ebox: ebox::EboxConfig::new("http://unused", "unused", vec![], "http://unused"),
        settings: FetchSettings::default(),
        secrets_cache_ttl: Duration::from_secs(300),
    };
    let f = delivery::wiring::fetcher(&clients, &config).unwrap();
    // Through clients of its own, so that it is not counted.
    put_secret(&moto.clients().await, secret).await;
    Backend {
        connections: Arc::new(delivery::aws::DynamoConnections::new(
            clients.dynamodb.clone(),
            &config.storage.connections_table,
        )),
        state: f.stores,
        objects: f.objects,
        secrets: f.secrets,
        events: f.events,
        requests,
        moto: Some(moto),
    }
}

/// The simulator in this process, with the benchmark client registered for the entity.
pub async fn simulator() -> (Simulator, Key) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let key = key("bench");
    sim.register("bench", ENTITY, &key.certificate_pem).unwrap();
    (sim, key)
}

/// One message for the entity with one attachment of 200 MB.
pub fn add_big_message(sim: &Simulator) {
    let spec = json!({"message_id": "big", "attachments": [{"file_name": "big.pdf", "size": 200_000_000u64, "main_content": true}]});
    let message = serde_json::from_value::<ebox_sim::control::MessageSpec>(spec)
        .unwrap()
        .into_message(sim.now())
        .unwrap();
    sim.add_message("ebox-enterprise", ENTITY, message);
}

/// The benchmark client's key material, as its secret holds it.
fn secret(key: &Key) -> String {
    json!({"client_id": "bench", "private_key_pem": key.private_key_pem, "certificate_pem": key.certificate_pem})
        .to_string()
}

async fn put_secret(clients: &AwsClients, secret: &str) {
    clients
        .secrets
        .create_secret()
        .name(SECRET_ID)
        .secret_string(secret)
        .send()
        .await
        .unwrap();
}

/// Moto's stores for a fetch process outside this one: the entity's connection and its
/// key material in place.
pub async fn put_on_moto(moto: &testkit::MotoServer, key: &Key) -> delivery::config::StorageNames {
    let clients = moto.clients().await;
    let names = moto.fresh_storage(&clients).await;
    put_secret(&clients, &secret(key)).await;
    let id = EntityId::parse(ENTITY).unwrap();
    delivery::aws::DynamoConnections::new(clients.dynamodb.clone(), &names.connections_table)
        .put(&bench_connection(id))
        .await
        .unwrap();
    names
}

/// The benchmark entity's connection, with its key material in `bench-secret`.
fn bench_connection(id: EntityId) -> Connection {
    let secret = CredentialsRef::Secret {
        secret_id: SECRET_ID.into(),
    };
    Connection::new(id, "bench", secret, chrono::Utc::now())
}

/// A fetch of the benchmark entity.
pub fn request() -> FetchRequest {
    FetchRequest {
        entity_id: ENTITY.into(),
        ..FetchRequest::default()
    }
}
