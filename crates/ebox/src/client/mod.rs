//! The e-Box client: one [`Ebox`] per process (HTTP connections, tokens, provider and
//! reference-data caches), one [`Session`] per entity.

mod content;
mod http;
mod reference;
mod token;
mod walk;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::credentials::ClientCredentials;
use crate::error::EboxError;
use crate::model::*;

pub use content::{AttachmentDownload, Body};
pub use http::{endpoint, parse_retry_after};
pub use token::{ASSERTION_TYPE, AccessToken};
pub use walk::Visibility;

/// Items asked for per page; a registry may serve fewer (see the walk).
pub const PAGE_SIZE: usize = 100;

/// Endpoints and policies. Production, acceptance and the simulator differ only here.
#[derive(Debug, Clone)]
pub struct EboxConfig {
    pub token_url: String,
    /// The `aud` of client assertions: the token URL for v5, separate for older clients.
    pub audience: String,
    /// Scopes named in token requests. Empty: none is named, and the token carries every
    /// scope the client was granted (clients onboarded at different times were granted
    /// different ones). A connection may name its own ([`Session::with_scopes`]).
    pub scopes: Vec<String>,
    /// Provider discovery: the Document Provider Registry (current) or the older
    /// Provider Registry; both answer shapes are read.
    pub provider_registry_url: String,
    /// Used instead of provider discovery when set.
    pub static_providers: Option<Vec<MessageProvider>>,
    pub connect_timeout: Duration,
    /// Most requests this process has open with e-Box at once (the token endpoint
    /// aside). Each holds a connection until its answer is read, and an idle connection
    /// keeps the read buffer its largest answer grew (up to 400 kB): this bounds the
    /// connections a run opens (each a TLS handshake), the memory they keep, and the load
    /// one entity puts on e-Box. A download holds its slot until its stream is dropped.
    pub max_in_flight: usize,
    /// Longest wait for the next bytes of an answer.
    pub read_timeout: Duration,
    /// Longest time one call may take, retries included.
    pub call_budget: Duration,
    pub max_retries: usize,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub assertion_lifetime: Duration,
    /// A token is renewed this long before it expires.
    pub token_margin: Duration,
    pub provider_cache_ttl: Duration,
    /// How long a looked-up name is kept (providers are asked to allow two days).
    pub reference_cache_ttl: Duration,
    /// After reference data failed, how long it is not asked again: names are left out
    /// meanwhile, and delivery never waits for it.
    pub reference_pause: Duration,
    /// Longest a message waits for the names behind its ids.
    pub reference_timeout: Duration,
}

impl EboxConfig {
    pub fn new(token_url: &str, audience: &str, scopes: Vec<String>, provider_registry_url: &str) -> Self {
        Self {
            token_url: token_url.to_owned(),
            audience: audience.to_owned(),
            scopes,
            provider_registry_url: provider_registry_url.to_owned(),
            static_providers: None,
            connect_timeout: Duration::from_secs(5),
            max_in_flight: 8,
            read_timeout: Duration::from_secs(30),
            call_budget: Duration::from_secs(90),
            max_retries: 4,
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            assertion_lifetime: Duration::from_secs(300),
            token_margin: Duration::from_secs(60),
            provider_cache_ttl: Duration::from_secs(600),
            reference_cache_ttl: Duration::from_secs(24 * 3600),
            reference_pause: Duration::from_secs(300),
            reference_timeout: Duration::from_secs(10),
        }
    }
}

struct Inner {
    http: reqwest::Client,
    /// One permit per request open with e-Box (see [`EboxConfig::max_in_flight`]), and
    /// how many there are.
    in_flight: Arc<tokio::sync::Semaphore>,
    slots: usize,
    config: EboxConfig,
    /// Token key -> the token, and when to renew it.
    tokens: Mutex<HashMap<String, (AccessToken, Instant)>>,
    providers: Mutex<Option<(Instant, Arc<Discovery>)>>,
    reference: reference::Cache,
}

/// What a warm process keeps between entities and invocations.
#[derive(Clone)]
pub struct Ebox {
    inner: Arc<Inner>,
}

impl Ebox {
    /// A client that trusts the system's roots ([`crate::roots::system`]).
    pub fn new(config: EboxConfig) -> Result<Self, EboxError> {
        Self::with_roots(config, crate::roots::system())
    }

    /// A client that trusts `roots` and nothing else.
    pub fn with_roots(config: EboxConfig, roots: &[rustls_pki_types::CertificateDer<'_>]) -> Result<Self, EboxError> {
        let slots = config.max_in_flight.max(1);
        if roots.is_empty() {
            return Err(EboxError::Transport {
                what: "HTTP client setup".to_owned(),
                message: "no trusted root certificates were found on this system (see SSL_CERT_FILE, SSL_CERT_DIR)"
                    .to_owned(),
            });
        }
        let http = reqwest::Client::builder()
            .tls_certs_only(roots.iter().filter_map(|c| reqwest::Certificate::from_der(c).ok()))
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(crate::USER_AGENT)
            .build()
            .map_err(|e| EboxError::transport("HTTP client setup", &e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                in_flight: Arc::new(tokio::sync::Semaphore::new(slots)),
                slots,
                config,
                tokens: Mutex::new(HashMap::new()),
                providers: Mutex::new(None),
                reference: reference::Cache::default(),
            }),
        })
    }

    pub fn config(&self) -> &EboxConfig {
        &self.inner.config
    }

    /// Requests open with e-Box right now, downloads being read included.
    pub fn requests_in_flight(&self) -> usize {
        self.inner.slots - self.inner.in_flight.available_permits()
    }

    /// A session for one entity's e-Box, with the configured scopes.
    pub fn session(&self, credentials: ClientCredentials) -> Session {
        Session {
            ebox: self.clone(),
            scopes: self.inner.config.scopes.clone(),
            credentials,
        }
    }
}

/// One entity's view of e-Box.
#[derive(Clone)]
pub struct Session {
    ebox: Ebox,
    credentials: ClientCredentials,
    scopes: Vec<String>,
}

impl Session {
    fn config(&self) -> &EboxConfig {
        &self.ebox.inner.config
    }

    pub fn client_id(&self) -> &str {
        &self.credentials.client_id
    }

    /// The scopes this connection's token requests name, instead of the configured ones
    /// (`None` keeps those). An empty list names none.
    pub fn with_scopes(mut self, scopes: Option<Vec<String>>) -> Self {
        if let Some(scopes) = scopes {
            self.scopes = scopes;
        }
        self
    }

    /// Every provider discovery lists (or the configured static list), cached per
    /// process for `provider_cache_ttl`, with the entries that could not be read. Use
    /// [`MessageProvider::state`] to pick.
    pub async fn providers(&self) -> Result<Arc<Discovery>, EboxError> {
        if let Some(list) = &self.config().static_providers {
            return Ok(Arc::new(Discovery {
                providers: list.clone(),
                skipped: Vec::new(),
            }));
        }
        if let Some((read_at, found)) = self.ebox.inner.providers.lock().unwrap().as_ref()
            && read_at.elapsed() < self.config().provider_cache_ttl
        {
            return Ok(found.clone());
        }
        const WHAT: &str = "provider registry";
        let url = http::parse_url(WHAT, &self.config().provider_registry_url)?;
        let answer: serde_json::Value = self.get_json(WHAT, &url, &[]).await?;
        let found = Arc::new(Discovery::read(&answer).map_err(|detail| EboxError::malformed(WHAT, detail))?);
        for skipped in &found.skipped {
            tracing::warn!(provider_id = ?skipped.provider_id, reason = %skipped.reason, "provider entry skipped");
        }
        *self.ebox.inner.providers.lock().unwrap() = Some((Instant::now(), found.clone()));
        Ok(found)
    }

    /// The e-Box summary of one provider (`numberOfMessages`, ...): the cheapest read.
    pub async fn summary(&self, provider: &MessageProvider) -> Result<serde_json::Value, EboxError> {
        let url = endpoint(&provider.message_provider_url, &["ebox"])?;
        self.get_json(&format!("summary of {}", provider.message_provider_id), &url, &[])
            .await
    }

    pub async fn message(&self, provider: &MessageProvider, message_id: &str) -> Result<ListedMessage, EboxError> {
        let what = format!("message {message_id}");
        let url = http::message_url(provider, message_id, &[])?;
        let raw: Box<serde_json::value::RawValue> = self.get_json(&what, &url, &[]).await?;
        match Listed::read(raw) {
            Listed::Message(m) => Ok(*m),
            Listed::Unreadable(u) => Err(EboxError::Malformed { what, detail: u.reason }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = httpdate::parse_http_date("Sat, 28 Nov 2026 10:00:00 GMT").unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn ids_cannot_escape_their_path_segment() {
        let url = endpoint("https://h/REST/registry/v2/", &["ebox", "messages", "../../x?y#z"]).unwrap();
        assert_eq!(
            url.as_str(),
            "https://h/REST/registry/v2/ebox/messages/..%2F..%2Fx%3Fy%23z"
        );
        let url = endpoint("https://h/base", &["ebox"]).unwrap();
        assert_eq!(url.as_str(), "https://h/base/ebox");
    }
}
