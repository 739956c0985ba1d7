//! The engine's stores for tests, on either backend: the in-memory twins, or the AWS
//! adapters talking HTTP to a real moto server with fresh tables, bucket and secret
//! names. Every engine test runs on both through [`both_backends!`](crate::both_backends).

use std::sync::Arc;

use crate::memory::{MemoryBus, MemoryConnections, MemoryObjects, MemorySecrets, MemoryState};
use delivery::EntityId;
use delivery::aws::{AwsClients, DynamoConnections, DynamoState, EventBridgeBus, S3Objects, SecretsManager};
use delivery::ports::*;
use delivery::stores::Stores;

use crate::MotoServer;
use crate::events::EventTap;
use crate::fault_proxy::FaultProxy;

pub struct Backend {
    pub connections: Arc<dyn ConnectionAdmin>,
    pub stores: Stores,
    pub inspect: Arc<dyn StateInspection>,
    /// Answers kept under idempotency keys (the state table, on moto).
    pub answers: Arc<dyn Answers>,
    pub objects: Arc<dyn ObjectStore>,
    pub events: Arc<dyn EventBus>,
    /// What reached the bus, read as a subscriber reads it.
    pub tap: EventTap,
    pub secrets: Secrets,
    /// Prefixed to every secret name a test makes, so tests sharing a moto never meet.
    pub secret_prefix: String,
    pub moto: Option<MotoServer>,
    /// The fault proxy every AWS call goes through, when the backend has one.
    pub proxy: Option<FaultProxy>,
}

pub enum Secrets {
    Memory(Arc<MemorySecrets>),
    Moto(AwsClients),
}

impl Secrets {
    /// Creates or replaces a secret.
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

    /// The names of the secrets under `prefix` (not those scheduled for deletion).
    pub async fn names_under(&self, prefix: &str) -> Vec<String> {
        match self {
            Secrets::Memory(m) => m.names().into_iter().filter(|n| n.starts_with(prefix)).collect(),
            Secrets::Moto(clients) => {
                let mut names = Vec::new();
                let mut pages = clients.secrets.list_secrets().into_paginator().send();
                while let Some(page) = pages.next().await {
                    let page = page.unwrap();
                    names.extend(page.secret_list().iter().filter_map(|s| s.name().map(str::to_owned)));
                }
                names.retain(|n| n.starts_with(prefix));
                names
            }
        }
    }

    /// The store with what administering writes (put, delete).
    pub fn admin(&self) -> Arc<dyn SecretAdmin> {
        match self {
            Secrets::Memory(m) => m.clone(),
            Secrets::Moto(clients) => Arc::new(SecretsManager::new(clients.secrets.clone())),
        }
    }

    pub fn store(&self) -> Arc<dyn SecretStore> {
        match self {
            Secrets::Memory(m) => m.clone(),
            Secrets::Moto(clients) => Arc::new(SecretsManager::new(clients.secrets.clone())),
        }
    }
}

impl Backend {
    pub async fn memory() -> Self {
        let state = Arc::new(MemoryState::default());
        let bus = Arc::new(MemoryBus::default());
        Self {
            connections: Arc::new(MemoryConnections::default()),
            stores: Stores::of(state.clone()),
            answers: state.clone(),
            inspect: state,
            objects: Arc::new(MemoryObjects::default()),
            events: bus.clone(),
            tap: EventTap::Memory(bus),
            secrets: Secrets::Memory(Arc::new(MemorySecrets::default())),
            secret_prefix: crate::unique_name("t") + "/",
            moto: None,
            proxy: None,
        }
    }

    pub async fn moto() -> Self {
        let moto = MotoServer::start();
        let clients = moto.clients().await;
        Self::on_moto(moto, clients, None).await
    }

    /// The adapters on moto, every call of theirs through a [`FaultProxy`] (the tables and
    /// bucket are made directly, before any fault).
    pub async fn moto_through_proxy() -> Self {
        let moto = MotoServer::start();
        let proxy = FaultProxy::start(&moto.url);
        let clients = AwsClients::new(&crate::sdk_for(&proxy.url()).await);
        Self::on_moto(moto, clients, Some(proxy)).await
    }

    /// The adapters on `moto` through `clients` as they are given (an interceptor added,
    /// say), which also make the tables and bucket; nothing is subscribed to the bus
    /// ([`EventTap::Off`]).
    pub async fn with_clients(moto: MotoServer, clients: AwsClients) -> Self {
        Self::on_moto_tapped(moto, clients, None, false).await
    }

    async fn on_moto(moto: MotoServer, clients: AwsClients, proxy: Option<FaultProxy>) -> Self {
        Self::on_moto_tapped(moto, clients, proxy, true).await
    }

    async fn on_moto_tapped(moto: MotoServer, clients: AwsClients, proxy: Option<FaultProxy>, tapped: bool) -> Self {
        // Past a proxy, the tables and bucket are made directly, before any fault.
        let names = match proxy {
            Some(_) => moto.fresh_storage(&moto.clients().await).await,
            None => moto.fresh_storage(&clients).await,
        };
        let state = Arc::new(DynamoState::new(clients.dynamodb.clone(), &names.state_table));
        let tap = match tapped {
            true => EventTap::on_moto(&moto, &names.event_bus).await,
            false => EventTap::Off,
        };
        Self {
            events: Arc::new(EventBridgeBus::new(clients.events.clone(), &names.event_bus)),
            tap,
            connections: Arc::new(DynamoConnections::new(
                clients.dynamodb.clone(),
                &names.connections_table,
            )),
            stores: Stores::of(state.clone()),
            answers: state.clone(),
            inspect: state,
            objects: Arc::new(S3Objects::new(&clients, &names.verdeelbak_bucket)),
            secrets: Secrets::Moto(clients),
            secret_prefix: crate::unique_name("t") + "/",
            moto: Some(moto),
            proxy,
        }
    }

    /// A secret name of this test's own.
    pub fn secret_name(&self, name: &str) -> String {
        format!("{}{name}", self.secret_prefix)
    }
}

/// Onboards an entity as it onboards in reality: its "DocConsumer e-Box Enterprise"
/// client (`client-<entity>`) registered at e-Box with the certificate of `key`, the key
/// material in the secret `secret_id`, and an enabled connection pointing at it.
pub async fn onboard(
    sim: &ebox_sim::Shared,
    secrets: &Secrets,
    connections: &dyn ConnectionAdmin,
    entity: &str,
    secret_id: &str,
    key: &crate::KeyMaterial,
) -> Connection {
    let client_id = format!("client-{entity}");
    sim.register(&client_id, entity, &key.certificate_pem).unwrap();
    let secret = serde_json::json!({
        "client_id": client_id, "private_key_pem": key.private_key_pem, "certificate_pem": key.certificate_pem,
    });
    secrets.set(secret_id, &secret.to_string()).await;
    let connection = Connection::new(
        EntityId::parse(entity).unwrap(),
        format!("Entiteit {entity}"),
        CredentialsRef::Secret {
            secret_id: secret_id.to_owned(),
        },
        chrono::Utc::now(),
    );
    connections.put(&connection).await.unwrap();
    connection
}

/// The `n`th valid enterprise number of a series: eight digits and their check digits.
pub fn entity(series: u64, n: u32) -> EntityId {
    let base = series * 1_000_000 + u64::from(n);
    EntityId::parse(&format!("{base:08}{:02}", 97 - base % 97)).unwrap()
}

/// Runs each named `async fn(Backend)` (or `async fn(World)` built by `$make`) twice: on
/// the in-memory twins and on moto.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $crate::both_backends!(@with |b| b; $($name),*);
    };
    (@with |$b:ident| $make:expr; $($name:ident),* $(,)?) => {
        mod in_memory {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { let $b = $crate::backend::Backend::memory().await; super::$name($make).await } )*
        }
        mod against_moto {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { let $b = $crate::backend::Backend::moto().await; super::$name($make).await } )*
        }
    };
}

/// Runs each named `async fn(World)` once more, in a module `on_the_twin`, on the
/// in-memory stores, with `$make` building the world (e-Box's twin, see [`crate::twin`]).
#[macro_export]
macro_rules! on_the_twin {
    (|$b:ident| $make:expr; $($name:ident),* $(,)?) => {
        mod on_the_twin {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { let $b = $crate::backend::Backend::memory().await; super::$name($make).await } )*
        }
    };
}
