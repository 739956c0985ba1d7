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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Mutex, RwLock};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::Client;
use crate::data::Scenario;
use crate::faults::{Effects, Fault, Route};
use crate::model::{ApiVersion, Message, Provider, RawItem, ReferenceData};

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

    pub fn insert_message(&mut self, provider: &str, enterprise: &str, message: Message) {
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

    // -- the operations of the control API, also callable in-process ------------------

    pub fn register_client(&self, client: Client) {
        self.world
            .write()
            .unwrap()
            .clients
            .insert(client.client_id.clone(), client);
    }

    /// Revokes a client, as removing or disabling its webservice account in ChaMan does:
    /// its token requests are refused (`invalid_client`) and the tokens it holds stop
    /// working. Returns whether there was such a client.
    pub fn revoke_client(&self, client_id: &str) -> bool {
        let Some(client) = self.world.write().unwrap().clients.remove(client_id) else {
            return false;
        };
        self.tokens
            .lock()
            .unwrap()
            .retain(|_, token| token.enterprise != client.enterprise);
        true
    }

    /// Registers a Document Consumer: its ClientID, its enterprise and the certificate it
    /// uploaded, with both consumer scopes of today (consultation and provider registry).
    pub fn register(
        &self,
        client_id: &str,
        enterprise: &str,
        certificate_pem: &str,
    ) -> Result<(), auth::CertificateError> {
        self.register_with_scopes(
            client_id,
            enterprise,
            certificate_pem,
            &[data::CONSULT_SCOPE, data::REGISTRY_SCOPE],
        )
    }

    /// Registers a Document Consumer granted exactly these scopes: for example the older
    /// [`data::OLD_CONSULT_SCOPES`] plus the registry scope, as earlier clients were.
    pub fn register_with_scopes(
        &self,
        client_id: &str,
        enterprise: &str,
        certificate_pem: &str,
        scopes: &[&str],
    ) -> Result<(), auth::CertificateError> {
        let scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self.register_client(auth::client_from_certificate(
            client_id,
            enterprise,
            certificate_pem,
            scopes,
        )?);
        Ok(())
    }

    pub fn add_fault(&self, fault: Fault) {
        self.faults.lock().unwrap().push(fault);
    }

    pub fn clear_faults(&self) {
        self.faults.lock().unwrap().clear();
    }

    /// Requests and bytes per (route, enterprise).
    pub fn counters(&self) -> BTreeMap<(String, String), Counter> {
        self.counters.lock().unwrap().clone()
    }

    /// Every access token issued so far, for tests that check none of them leaks.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.tokens.lock().unwrap().keys().cloned().collect()
    }

    /// TCP connections accepted since the start.
    pub fn connections_accepted(&self) -> u64 {
        self.connections.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn reset_counters(&self) {
        self.counters.lock().unwrap().clear();
    }

    /// Requests to e-Box routes of one enterprise (token requests included).
    pub fn requests_of(&self, enterprise: &str) -> u64 {
        self.counters
            .lock()
            .unwrap()
            .iter()
            .filter(|((_, e), _)| e == enterprise)
            .map(|(_, c)| c.requests)
            .sum()
    }

    pub fn generate(&self, scenario: &Scenario) -> usize {
        let mut world = self.world.write().unwrap();
        let now = world.now();
        let today = now.date_naive();
        let providers: Vec<String> = if scenario.providers.is_empty() {
            world
                .providers
                .iter()
                .filter(|p| p.active_on(today))
                .map(|p| p.id.clone())
                .collect()
        } else {
            scenario.providers.clone()
        };
        let mut made = 0;
        for enterprise in &scenario.enterprises {
            for n in 0..scenario.messages_per_enterprise {
                let provider = &providers[n % providers.len()];
                let position = n / providers.len();
                let mut message = data::generated_message(
                    scenario.seed,
                    provider,
                    position,
                    now,
                    scenario.attachments_per_message,
                    scenario.attachment_size,
                    &world.reference,
                );
                world.shape_for_provider(provider, &mut message, position);
                world.insert_message(provider, enterprise, message);
                made += 1;
            }
        }
        made
    }

    pub fn add_message(&self, provider: &str, enterprise: &str, message: Message) {
        self.world
            .write()
            .unwrap()
            .insert_message(provider, enterprise, message);
    }

    /// A fresh generated message, received now, as arrivals during a walk are.
    pub fn arrive(&self, provider: &str, enterprise: &str) -> String {
        let mut world = self.world.write().unwrap();
        world.arrivals += 1;
        let n = world.arrivals;
        let mut message =
            data::generated_message(0xA11, provider, 1_000_000 + n, world.now(), 1, 4096, &world.reference);
        message.receipt = world.now();
        message.expiration = message.receipt + Duration::days(90);
        world.shape_for_provider(provider, &mut message, n);
        let id = message.id.clone();
        world.insert_message(provider, enterprise, message);
        id
    }

    /// Lists `raw` verbatim among the messages of an e-Box, ordered by `received_at`: an
    /// item no schema foresaw. Nothing else (body, content) works for it.
    pub fn add_raw_item(&self, provider: &str, enterprise: &str, raw: serde_json::Value, received_at: DateTime<Utc>) {
        self.world
            .write()
            .unwrap()
            .insert_raw_item(provider, enterprise, RawItem { raw, received_at });
    }

    /// Lists `entry` verbatim in both discovery answers, after the providers: an entry no
    /// schema foresaw.
    pub fn add_raw_provider_entry(&self, entry: serde_json::Value) {
        self.world.write().unwrap().raw_provider_entries.push(entry);
    }

    /// Changes one message; false when it does not exist.
    pub fn update_message(
        &self,
        provider: &str,
        enterprise: &str,
        id: &str,
        change: impl FnOnce(&mut Message, DateTime<Utc>),
    ) -> bool {
        let mut world = self.world.write().unwrap();
        let now = world.now();
        let found = world
            .boxes
            .get_mut(&(provider.to_owned(), enterprise.to_owned()))
            .and_then(|list| list.iter_mut().find(|m| m.id == id));
        match found {
            Some(m) => {
                change(m, now);
                m.rendered = Default::default();
                true
            }
            None => false,
        }
    }

    pub fn messages(&self, provider: &str, enterprise: &str) -> Vec<Message> {
        self.world
            .read()
            .unwrap()
            .boxes
            .get(&(provider.to_owned(), enterprise.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    pub fn set_providers(&self, providers: Vec<Provider>) {
        self.world.write().unwrap().providers = providers;
    }

    pub fn update_provider(&self, id: &str, change: impl FnOnce(&mut Provider)) -> bool {
        let mut world = self.world.write().unwrap();
        match world.providers.iter_mut().find(|p| p.id == id) {
            Some(p) => {
                change(p);
                true
            }
            None => false,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.world.read().unwrap().now()
    }

    pub fn advance_clock(&self, by: Duration) {
        self.world.write().unwrap().clock_offset += by;
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
