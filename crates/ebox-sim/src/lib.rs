//! A local e-Box Enterprise for the demo, the tests and the benchmarks.
//!
//! It serves the OAuth token endpoint (really verifying the signed client assertion),
//! the provider registry and one message registry per provider, for any number of
//! enterprises, each token seeing only its own enterprise's e-Box. A control API on
//! loopback registers clients, adds or expires messages, switches faults on and reads
//! request counters.

mod api;
pub mod auth;
pub mod control;
pub mod data;
pub mod direct;
pub mod faults;
pub mod model;
mod ops;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Mutex, RwLock};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::Client;
use crate::faults::{Effects, Fault, Route};
use crate::model::{ApiVersion, Message, Provider, RawItem, ReferenceData, RenderContext};

pub const TOKEN_PATH: &str = "/REST/oauth/v5/token";
/// The older Provider Registry (federation 1.3 YAML): a JSON array of MessageProvider.
pub const PROVIDERS_PATH: &str = "/REST/ebox/enterprise/federation/v1/messageProviders";
/// The current Document Provider Registry: `{"items": [...], "totalItems": n}`.
pub const DOCUMENT_PROVIDER_REGISTRY_PATH: &str =
    "/REST/ebox/enterprise/federation/documentProviderRegistry/v1/messageRegistries";

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The `aud` client assertions must carry; the token URL when absent (as in v5).
    pub audience: Option<String>,
    pub token_lifetime: Duration,
    /// Longest accepted assertion lifetime (`exp - iat`).
    pub max_assertion_lifetime: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            audience: None,
            token_lifetime: Duration::minutes(10),
            max_assertion_lifetime: Duration::minutes(10),
        }
    }
}

pub(crate) struct Token {
    pub enterprise: String,
    pub scopes: BTreeSet<String>,
    pub expires_at: DateTime<Utc>,
    pub calls_left: Option<u32>,
}

#[derive(Default)]
pub(crate) struct World {
    pub clients: HashMap<String, Client>,
    pub seen_jti: HashMap<String, DateTime<Utc>>,
    pub providers: Vec<Provider>,
    /// (provider, enterprise) -> messages, newest first.
    pub boxes: HashMap<(String, String), Vec<Message>>,
    /// (provider, enterprise) -> unreadable items listed among the messages, newest first.
    pub raw_items: HashMap<(String, String), Vec<RawItem>>,
    /// Entries listed verbatim after the providers by both discovery endpoints.
    pub raw_provider_entries: Vec<serde_json::Value>,
    pub reference: ReferenceData,
    pub clock_offset: Duration,
    pub arrivals: usize,
}

impl World {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    /// What a generated message looks like at this provider: v3 registries leave some
    /// attachment ids out.
    fn shape_for_provider(&self, provider: &str, message: &mut Message, n: usize) {
        if self.api_version(provider) == ApiVersion::V3 {
            data::unlist_alternate_attachment_ids(message, n);
        }
    }

    pub fn insert_message(&mut self, provider: &str, enterprise: &str, mut message: Message) {
        // Rendered elsewhere (another e-Box, another provider) it would name the wrong
        // recipient or registry.
        message.rendered = Default::default();
        let list = self
            .boxes
            .entry((provider.to_owned(), enterprise.to_owned()))
            .or_default();
        list.retain(|m| m.id != message.id);
        let at = list.partition_point(|m| {
            (m.receipt, std::cmp::Reverse(&m.id)) > (message.receipt, std::cmp::Reverse(&message.id))
        });
        list.insert(at, message);
    }

    pub fn insert_raw_item(&mut self, provider: &str, enterprise: &str, item: RawItem) {
        let list = self
            .raw_items
            .entry((provider.to_owned(), enterprise.to_owned()))
            .or_default();
        let at = list.partition_point(|r| r.received_at >= item.received_at);
        list.insert(at, item);
    }

    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// The API version a provider speaks; v2 for one the simulator does not know.
    pub fn api_version(&self, provider: &str) -> ApiVersion {
        self.provider(provider).map(|p| p.api_version).unwrap_or_default()
    }

    /// How a provider's registry renders the messages of an enterprise's e-Box.
    pub fn render_context<'a>(&self, provider: &str, registry_url: &'a str, enterprise: &'a str) -> RenderContext<'a> {
        let p = self.provider(provider);
        RenderContext {
            registry_url,
            version: p.map(|p| p.api_version).unwrap_or_default(),
            partition_place: p.map(|p| p.partition_place).unwrap_or_default(),
            enterprise,
        }
    }

    /// Forgets every message's rendered JSON: what it depends on of a provider (its URL,
    /// version, partition place) may have changed.
    pub fn forget_renderings(&mut self) {
        for message in self.boxes.values_mut().flatten() {
            message.rendered = Default::default();
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counter {
    pub requests: u64,
    pub bytes: u64,
}

/// Everything the simulator holds, shared by its handlers.
pub struct Shared {
    pub config: SimConfig,
    pub base_url: String,
    pub(crate) world: RwLock<World>,
    pub(crate) tokens: Mutex<HashMap<String, Token>>,
    pub(crate) faults: Mutex<Vec<Fault>>,
    pub(crate) counters: Mutex<BTreeMap<(String, String), Counter>>,
    /// TCP connections accepted: a client that reuses its connections opens few (in
    /// production each new one is a TLS handshake).
    pub(crate) connections: std::sync::atomic::AtomicU64,
}

impl Shared {
    fn new(config: SimConfig, base_url: String) -> Self {
        let world = World {
            providers: data::default_providers(),
            reference: data::default_reference_data(),
            ..World::default()
        };
        Self {
            config,
            base_url,
            world: RwLock::new(world),
            tokens: Mutex::new(HashMap::new()),
            faults: Mutex::new(Vec::new()),
            counters: Mutex::new(BTreeMap::new()),
            connections: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.base_url)
    }

    pub fn audience(&self) -> String {
        self.config.audience.clone().unwrap_or_else(|| self.token_url())
    }

    /// The provider discovery a consumer uses by default: the current Document Provider
    /// Registry.
    pub fn provider_registry_url(&self) -> String {
        self.document_provider_registry_url()
    }

    pub fn document_provider_registry_url(&self) -> String {
        format!("{}{DOCUMENT_PROVIDER_REGISTRY_PATH}", self.base_url)
    }

    /// The older Provider Registry of the federation 1.3 YAML.
    pub fn message_providers_url(&self) -> String {
        format!("{}{PROVIDERS_PATH}", self.base_url)
    }

    /// Base URL of a provider's Message Registry (its version included, no trailing
    /// slash), as both discovery lists announce it; None for an unknown provider.
    pub fn registry_url(&self, provider: &str) -> Option<String> {
        let world = self.world.read().unwrap();
        world.provider(provider).map(|p| p.registry_url(&self.base_url))
    }

    pub(crate) fn effects(&self, route: Route, provider: Option<&str>, enterprise: Option<&str>) -> Effects {
        faults::apply(&mut self.faults.lock().unwrap(), route, provider, enterprise)
    }

    pub(crate) fn count(&self, route: Route, enterprise: &str, bytes: u64) {
        let mut counters = self.counters.lock().unwrap();
        let c = counters
            .entry((route.name().to_owned(), enterprise.to_owned()))
            .or_default();
        c.requests += 1;
        c.bytes += bytes;
    }
}

/// A running simulator. Dropping it stops the server.
pub struct Simulator {
    pub addr: SocketAddr,
    shared: std::sync::Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Simulator {
    /// Starts on an ephemeral loopback port.
    pub async fn start(config: SimConfig) -> std::io::Result<Self> {
        Self::start_on(([127, 0, 0, 1], 0).into(), config).await
    }

    pub async fn start_on(addr: SocketAddr, config: SimConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = std::sync::Arc::new(Shared::new(config, format!("http://{addr}")));
        let app = api::router(shared.clone()).merge(control::router(shared.clone()));
        let (stop, stopped) = oneshot::channel::<()>();
        let counted = shared.clone();
        let listener = axum::serve::ListenerExt::tap_io(listener, move |_| {
            counted.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                });
            if let Err(e) = server.await {
                tracing::error!(error = %e, "simulator stopped");
            }
        });
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn shared(&self) -> &std::sync::Arc<Shared> {
        &self.shared
    }

    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }
}

impl std::ops::Deref for Simulator {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
