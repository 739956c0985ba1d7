//! The e-Box client: one [`Ebox`] per process (HTTP connections, token, provider and
//! reference-data caches), one [`Session`] per entity.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use sha2::Digest as _;
use tokio::time::Instant;

use crate::credentials::ClientCredentials;
use crate::error::EboxError;
use crate::model::*;

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub const PAGE_SIZE: usize = 100;

/// Endpoints and policies. Production, acceptance and the simulator differ only here.
#[derive(Debug, Clone)]
pub struct EboxConfig {
    pub token_url: String,
    /// The `aud` of client assertions: the token URL for v5, separate for older clients.
    pub audience: String,
    pub scopes: Vec<String>,
    pub provider_registry_url: String,
    /// Used instead of the provider registry when set.
    pub static_providers: Option<Vec<MessageProvider>>,
    pub connect_timeout: Duration,
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
    pub reference_cache_ttl: Duration,
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
            read_timeout: Duration::from_secs(30),
            call_budget: Duration::from_secs(90),
            max_retries: 4,
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            assertion_lifetime: Duration::from_secs(300),
            token_margin: Duration::from_secs(60),
            provider_cache_ttl: Duration::from_secs(600),
            reference_cache_ttl: Duration::from_secs(3600),
        }
    }
}

/// An access token. Its `Debug` shows nothing of it.
#[derive(Clone, Debug)]
pub struct AccessToken(SecretString);

impl AccessToken {
    /// The token itself, for an Authorization header and nothing else.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

struct CachedToken {
    token: AccessToken,
    renew_at: Instant,
}

struct Inner {
    http: reqwest::Client,
    config: EboxConfig,
    tokens: Mutex<HashMap<String, CachedToken>>,
    providers: Mutex<Option<(Instant, Arc<Vec<MessageProvider>>)>>,
    reference: Mutex<HashMap<String, (Instant, Arc<ReferenceNames>)>>,
}

/// What a warm process keeps between entities and invocations.
#[derive(Clone)]
pub struct Ebox {
    inner: Arc<Inner>,
}

impl Ebox {
    pub fn new(config: EboxConfig) -> Result<Self, EboxError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("digipost-ebox/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EboxError::transport("HTTP client setup", &e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                tokens: Mutex::new(HashMap::new()),
                providers: Mutex::new(None),
                reference: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn config(&self) -> &EboxConfig {
        &self.inner.config
    }

    /// A session for one entity's e-Box.
    pub fn session(&self, credentials: ClientCredentials) -> Session {
        Session {
            ebox: self.clone(),
            credentials,
        }
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct OAuthErrorAnswer {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(serde::Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    iat: i64,
    exp: i64,
}

/// One entity's view of e-Box.
#[derive(Clone)]
pub struct Session {
    ebox: Ebox,
    credentials: ClientCredentials,
}

impl Session {
    fn config(&self) -> &EboxConfig {
        &self.ebox.inner.config
    }

    pub fn client_id(&self) -> &str {
        &self.credentials.client_id
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.config().min_backoff)
            .with_max_delay(self.config().max_backoff)
            .with_max_times(self.config().max_retries)
            .with_jitter()
    }

    /// Runs `call` with bounded retries (backoff with jitter, honouring Retry-After) and
    /// within the call budget. Only what can succeed later is retried.
    async fn with_retries<T, F, Fut>(&self, what: &str, call: F) -> Result<T, EboxError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, EboxError>>,
    {
        let max_backoff = self.config().call_budget;
        let retried = call
            .retry(self.backoff())
            .sleep(tokio::time::sleep)
            .when(|e: &EboxError| e.retryable() && !matches!(e, EboxError::Unauthorized { .. }))
            .adjust(move |e: &EboxError, planned| match (e.retry_after(), planned) {
                (Some(asked), Some(_)) => Some(asked.min(max_backoff)),
                (_, planned) => planned,
            })
            .notify(|e: &EboxError, after: Duration| {
                tracing::warn!(error = %e, retry_in_ms = after.as_millis() as u64, "e-Box call failed; retrying");
            });
        match tokio::time::timeout(self.config().call_budget, retried).await {
            Ok(result) => result,
            Err(_) => Err(EboxError::Timeout { what: what.to_owned() }),
        }
    }

    // -- tokens -------------------------------------------------------------------------

    /// A valid access token: the cached one, or a new one.
    pub async fn access_token(&self) -> Result<AccessToken, EboxError> {
        if let Some(cached) = self.ebox.inner.tokens.lock().unwrap().get(&self.credentials.client_id)
            && Instant::now() < cached.renew_at
        {
            return Ok(cached.token.clone());
        }
        let (token, lifetime) = self.with_retries("token request", || self.request_token()).await?;
        let margin = self.config().token_margin.min(lifetime / 2);
        self.ebox.inner.tokens.lock().unwrap().insert(
            self.credentials.client_id.clone(),
            CachedToken {
                token: token.clone(),
                renew_at: Instant::now() + lifetime - margin,
            },
        );
        Ok(token)
    }

    fn forget_token(&self) {
        self.ebox
            .inner
            .tokens
            .lock()
            .unwrap()
            .remove(&self.credentials.client_id);
    }

    fn client_assertion(&self) -> Result<String, EboxError> {
        let now = Utc::now().timestamp();
        let id = &self.credentials.client_id;
        let claims = AssertionClaims {
            iss: id,
            sub: id,
            aud: &self.config().audience,
            jti: uuid::Uuid::new_v4().to_string(),
            iat: now,
            exp: now + self.config().assertion_lifetime.as_secs() as i64,
        };
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        jsonwebtoken::encode(&header, &claims, self.credentials.key.signing_key()).map_err(|e| {
            EboxError::Key(crate::credentials::KeyError::PrivateKey(format!(
                "cannot sign: {:?}",
                e.kind()
            )))
        })
    }

    async fn request_token(&self) -> Result<(AccessToken, Duration), EboxError> {
        const WHAT: &str = "token request";
        let assertion = self.client_assertion()?;
        let scope = self.config().scopes.join(" ");
        let form = [
            ("grant_type", "client_credentials"),
            ("scope", scope.as_str()),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
        ];
        let response = self
            .ebox
            .inner
            .http
            .post(&self.config().token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| EboxError::transport(WHAT, &e))?;
        let status = response.status();
        let retry_after = retry_after(&response);
        let body = response.bytes().await.map_err(|e| EboxError::transport(WHAT, &e))?;
        if status.is_success() {
            let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| EboxError::Malformed {
                what: WHAT.into(),
                detail: e.to_string(),
            })?;
            let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(300).max(1));
            return Ok((AccessToken(SecretString::from(answer.access_token)), lifetime));
        }
        if let Ok(refusal) = serde_json::from_slice::<OAuthErrorAnswer>(&body)
            && status.is_client_error()
            && status != StatusCode::TOO_MANY_REQUESTS
        {
            return Err(EboxError::TokenRefused {
                status: status.as_u16(),
                code: refusal.error,
                description: refusal.error_description.unwrap_or_default(),
            });
        }
        Err(status_error(WHAT, status, retry_after, &body))
    }

    // -- requests -----------------------------------------------------------------------

    /// One authorised GET; a 401 gets one fresh token and one more try.
    async fn get_once(&self, what: &str, url: &Url, query: &[(&str, String)]) -> Result<reqwest::Response, EboxError> {
        let mut refreshed = false;
        loop {
            let token = self.access_token().await?;
            let response = self
                .ebox
                .inner
                .http
                .get(url.clone())
                .query(query)
                .bearer_auth(token.0.expose_secret())
                .send()
                .await
                .map_err(|e| EboxError::transport(what, &e))?;
            let status = response.status();
            tracing::debug!(what, status = status.as_u16(), "e-Box answered");
            if status.is_success() {
                return Ok(response);
            }
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                // Expired or revoked early: one transparent refresh.
                self.forget_token();
                refreshed = true;
                continue;
            }
            let retry_after = retry_after(&response);
            let body = response.bytes().await.unwrap_or_default();
            return Err(status_error(what, status, retry_after, &body));
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        url: &Url,
        query: &[(&str, String)],
    ) -> Result<T, EboxError> {
        self.with_retries(what, || async {
            let response = self.get_once(what, url, query).await?;
            let body = response.bytes().await.map_err(|e| EboxError::transport(what, &e))?;
            serde_json::from_slice(&body).map_err(|e| EboxError::Malformed {
                what: what.to_owned(),
                detail: e.to_string(),
            })
        })
        .await
    }

    // -- providers ----------------------------------------------------------------------

    /// Every provider the registry lists (or the configured static list), cached per
    /// process for `provider_cache_ttl`. Use [`MessageProvider::state`] to pick.
    pub async fn providers(&self) -> Result<Arc<Vec<MessageProvider>>, EboxError> {
        if let Some(list) = &self.config().static_providers {
            return Ok(Arc::new(list.clone()));
        }
        if let Some((read_at, list)) = self.ebox.inner.providers.lock().unwrap().as_ref()
            && read_at.elapsed() < self.config().provider_cache_ttl
        {
            return Ok(list.clone());
        }
        let url = parse_url("provider registry", &self.config().provider_registry_url)?;
        let list: Vec<MessageProvider> = self.get_json("provider registry", &url, &[]).await?;
        let list = Arc::new(list);
        *self.ebox.inner.providers.lock().unwrap() = Some((Instant::now(), list.clone()));
        Ok(list)
    }

    // -- messages -----------------------------------------------------------------------

    /// Every message of one provider, newest first, from `received_after` on (a date, as
    /// e-Box filters on dates), as a stream of pages of 100. A message seen twice in one
    /// walk is yielded once. When the list shifts while it is paged (messages arriving or
    /// expiring), the walk is repeated, so that nothing slips between two pages.
    pub fn messages(
        &self,
        provider: &MessageProvider,
        received_after: Option<NaiveDate>,
    ) -> BoxStream<'static, Result<ListedMessage, EboxError>> {
        let walk = Walk {
            session: self.clone(),
            provider_id: provider.message_provider_id.clone(),
            url: endpoint(&provider.message_provider_url, &["ebox", "messages"]),
            received_after,
            page: 1,
            pass: 1,
            first_total: None,
            shifted: false,
            previous_ids: Vec::new(),
            seen: HashSet::new(),
            done: false,
        };
        stream::try_unfold(walk, |mut walk| async move {
            let batch = walk.next_page().await?;
            Ok::<_, EboxError>(batch.map(|b| (b, walk)))
        })
        .map_ok(|batch: Vec<ListedMessage>| stream::iter(batch.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    /// The e-Box summary of one provider (`numberOfMessages`, ...): the cheapest read.
    pub async fn summary(&self, provider: &MessageProvider) -> Result<Value, EboxError> {
        let url = endpoint(&provider.message_provider_url, &["ebox"])?;
        self.get_json(&format!("summary of {}", provider.message_provider_id), &url, &[])
            .await
    }

    pub async fn message(&self, provider: &MessageProvider, message_id: &str) -> Result<ListedMessage, EboxError> {
        let url = endpoint(&provider.message_provider_url, &["ebox", "messages", message_id])?;
        let raw: Value = self.get_json(&format!("message {message_id}"), &url, &[]).await?;
        parse_message(&provider.message_provider_id, raw)
    }

    /// The body (nl/fr/de). Reading it marks the message read when the body is its
    /// main content.
    pub async fn body(&self, provider: &MessageProvider, message_id: &str) -> Result<Translated, EboxError> {
        let url = endpoint(
            &provider.message_provider_url,
            &["ebox", "messages", message_id, "body"],
        )?;
        self.get_json(&format!("body of message {message_id}"), &url, &[]).await
    }

    /// An attachment's content as a stream that is never held whole: hashed as it flows,
    /// checked against the digest e-Box gave and against the announced length. A
    /// mismatch or a short body ends the stream with an error instead of its last chunk.
    pub async fn attachment(
        &self,
        provider: &MessageProvider,
        message_id: &str,
        attachment: &Attachment,
    ) -> Result<AttachmentDownload, EboxError> {
        let what = format!("attachment {} of message {message_id}", attachment.attachment_id);
        let url = endpoint(
            &provider.message_provider_url,
            &[
                "ebox",
                "messages",
                message_id,
                "attachments",
                &attachment.attachment_id,
                "content",
            ],
        )?;
        // Only the request is retried here; a transfer cut later is retried by the caller,
        // which has to start its upload again anyway.
        let response = self.with_retries(&what, || self.get_once(&what, &url, &[])).await?;
        Ok(AttachmentDownload::new(what, response, attachment))
    }

    /// The names behind the ids of one registry, fetched once and cached per process.
    pub async fn reference_names(&self, provider: &MessageProvider) -> Result<Arc<ReferenceNames>, EboxError> {
        let key = provider.message_provider_url.clone();
        if let Some((read_at, names)) = self.ebox.inner.reference.lock().unwrap().get(&key)
            && read_at.elapsed() < self.config().reference_cache_ttl
        {
            return Ok(names.clone());
        }
        let names = ReferenceNames {
            message_types: self
                .reference_list(provider, "messageTypes", "messageTypeId", "messageTypeName")
                .await?,
            sender_organizations: self
                .reference_list(
                    provider,
                    "senderOrganizations",
                    "organizationId",
                    "organizationShortName",
                )
                .await?,
            sender_applications: self
                .reference_list(provider, "senderApplications", "applicationId", "applicationName")
                .await?,
        };
        let names = Arc::new(names);
        self.ebox
            .inner
            .reference
            .lock()
            .unwrap()
            .insert(key, (Instant::now(), names.clone()));
        Ok(names)
    }

    async fn reference_list(
        &self,
        provider: &MessageProvider,
        kind: &str,
        id_field: &str,
        name_field: &str,
    ) -> Result<HashMap<String, Translated>, EboxError> {
        let url = endpoint(&provider.message_provider_url, &["referenceData", kind])?;
        let mut names = HashMap::new();
        for page in 1..=1000 {
            let query = [("page", page.to_string()), ("pageSize", PAGE_SIZE.to_string())];
            let answer: Page = self.get_json(&format!("reference data {kind}"), &url, &query).await?;
            let count = answer.items.len();
            for item in answer.items {
                if let (Some(id), Some(name)) = (item[id_field].as_str(), item.get(name_field)) {
                    let name: Translated = serde_json::from_value(name.clone()).unwrap_or_default();
                    names.insert(id.to_owned(), name);
                }
            }
            let total = answer.total_items.unwrap_or(0) as usize;
            if count < PAGE_SIZE || names.len() >= total {
                break;
            }
        }
        Ok(names)
    }
}

struct Walk {
    session: Session,
    provider_id: String,
    url: Result<Url, EboxError>,
    received_after: Option<NaiveDate>,
    page: usize,
    pass: usize,
    first_total: Option<u64>,
    shifted: bool,
    previous_ids: Vec<String>,
    seen: HashSet<String>,
    done: bool,
}

const MAX_PASSES: usize = 3;

impl Walk {
    fn error(&self, detail: String) -> EboxError {
        EboxError::Walk {
            provider: self.provider_id.clone(),
            detail,
        }
    }

    /// The new messages of the next page; None at the end of the walk.
    async fn next_page(&mut self) -> Result<Option<Vec<ListedMessage>>, EboxError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let url = match &self.url {
                Ok(u) => u.clone(),
                Err(e) => return Err(self.error(e.to_string())),
            };
            let mut query = vec![("page", self.page.to_string()), ("pageSize", PAGE_SIZE.to_string())];
            if let Some(d) = self.received_after {
                query.push(("receivedAfter", d.to_string()));
            }
            let what = format!("messages of {} page {}", self.provider_id, self.page);
            let page: Page = self.session.get_json(&what, &url, &query).await?;
            let total = page.total_items.unwrap_or(0);
            match self.first_total {
                None => self.first_total = Some(total),
                Some(first) if first != total => self.shifted = true,
                Some(_) => {}
            }
            let limit = self.first_total.unwrap_or(0).max(total) as usize / PAGE_SIZE + 10;
            if self.page > limit {
                return Err(self.error(format!("the walk did not end after {} pages", self.page)));
            }
            let mut messages = Vec::with_capacity(page.items.len());
            for raw in page.items {
                messages.push(parse_message(&self.provider_id, raw)?);
            }
            let ids: Vec<String> = messages.iter().map(|m| m.message.message_id.clone()).collect();
            if !ids.is_empty() && ids == self.previous_ids {
                return Err(self.error(format!("page {} repeats page {}", self.page, self.page - 1)));
            }
            let full = messages.len() == PAGE_SIZE;
            self.previous_ids = ids;
            let fresh: Vec<ListedMessage> = messages
                .into_iter()
                .filter(|m| self.seen.insert(m.message.message_id.clone()))
                .collect();
            if full {
                self.page += 1;
            } else if self.shifted && self.pass < MAX_PASSES {
                tracing::info!(provider = %self.provider_id, pass = self.pass, "the list shifted while paging; walking it again");
                self.pass += 1;
                self.page = 1;
                self.first_total = None;
                self.shifted = false;
                self.previous_ids.clear();
            } else {
                self.done = true;
            }
            if !fresh.is_empty() {
                return Ok(Some(fresh));
            }
        }
    }
}

fn parse_message(provider_id: &str, raw: Value) -> Result<ListedMessage, EboxError> {
    let message: Message = serde_json::from_value(raw.clone()).map_err(|e| EboxError::Malformed {
        what: format!(
            "message {} of {provider_id}",
            raw.get("messageId")
                .and_then(Value::as_str)
                .unwrap_or("(without messageId)")
        ),
        detail: e.to_string(),
    })?;
    Ok(ListedMessage { message, raw })
}

fn parse_url(what: &str, url: &str) -> Result<Url, EboxError> {
    Url::parse(url).map_err(|e| EboxError::Malformed {
        what: what.to_owned(),
        detail: format!("bad URL {url:?}: {e}"),
    })
}

/// `base` plus path segments, each percent-encoded: an id can never change the path.
pub fn endpoint(base: &str, segments: &[&str]) -> Result<Url, EboxError> {
    let mut url = parse_url("provider URL", base)?;
    url.path_segments_mut()
        .map_err(|_| EboxError::Malformed {
            what: "provider URL".into(),
            detail: format!("{base:?} cannot be a base"),
        })?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, std::time::SystemTime::now())
}

/// Retry-After in seconds or as an HTTP date.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value.trim()).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[derive(Deserialize)]
struct StatusMessage {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

fn status_error(what: &str, status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> EboxError {
    let message = serde_json::from_slice::<StatusMessage>(body)
        .ok()
        .map(|s| {
            format!("{} {}", s.code.unwrap_or_default(), s.message.unwrap_or_default())
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
    let what = what.to_owned();
    match status {
        StatusCode::UNAUTHORIZED => EboxError::Unauthorized { what },
        StatusCode::FORBIDDEN => EboxError::ScopeMissing { what },
        StatusCode::NOT_FOUND => EboxError::NotFound { what },
        StatusCode::TOO_MANY_REQUESTS => EboxError::RateLimited { what, retry_after },
        s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => EboxError::Unavailable {
            what,
            status: s.as_u16(),
            message,
        },
        s => EboxError::Refused {
            what,
            status: s.as_u16(),
            message,
        },
    }
}

/// An attachment being downloaded.
pub struct AttachmentDownload {
    /// From Content-Length, when the server sent one.
    pub content_length: Option<u64>,
    /// The digest e-Box announced.
    pub expected_sha256: Option<[u8; 32]>,
    pub chunks: BoxStream<'static, Result<Bytes, EboxError>>,
    /// The SHA-256 of what was streamed, set once the stream ended cleanly.
    pub sha256: Arc<OnceLock<[u8; 32]>>,
}

impl AttachmentDownload {
    fn new(what: String, response: reqwest::Response, attachment: &Attachment) -> Self {
        let content_length = response.content_length();
        let expected = attachment.expected_sha256();
        // Without a digest, the sender's declared size (kB) is the only check against a
        // short answer; it is approximate, so only a clear shortfall counts.
        let declared_floor = ((attachment.size * 1000.0) as u64).saturating_sub(1024);
        let name = attachment.attachment_id.clone();
        let sha256 = Arc::new(OnceLock::new());
        let done = sha256.clone();
        let body = response.bytes_stream();
        let chunks = stream::unfold(
            (body, sha2::Sha256::new(), 0u64, false),
            move |(mut body, mut hasher, mut count, finished)| {
                let what = what.clone();
                let name = name.clone();
                let done = done.clone();
                async move {
                    if finished {
                        return None;
                    }
                    match body.next().await {
                        Some(Ok(chunk)) => {
                            hasher.update(&chunk);
                            count += chunk.len() as u64;
                            Some((Ok(chunk), (body, hasher, count, false)))
                        }
                        Some(Err(e)) => Some((Err(EboxError::transport(&what, &e)), (body, hasher, count, true))),
                        None => {
                            let actual: [u8; 32] = hasher.clone().finalize().into();
                            let short = match content_length {
                                Some(expected) if count != expected => Some(expected),
                                _ if expected.is_none() && count < declared_floor => Some(declared_floor),
                                _ => None,
                            };
                            let verdict = if let Some(expected) = short {
                                Err(EboxError::ShortBody {
                                    attachment: name,
                                    expected,
                                    actual: count,
                                })
                            } else if let Some(expected_sha) = expected.filter(|e| *e != actual) {
                                Err(EboxError::DigestMismatch {
                                    attachment: name,
                                    expected: hex(&expected_sha),
                                    actual: hex(&actual),
                                })
                            } else {
                                let _ = done.set(actual);
                                return None;
                            };
                            Some((verdict.map(|()| Bytes::new()), (body, hasher, count, true)))
                        }
                    }
                }
            },
        )
        .boxed();
        Self {
            content_length,
            expected_sha256: expected,
            chunks,
            sha256,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
