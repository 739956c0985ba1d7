//! Authorised requests with bounded retries, and e-Box's error answers as [`EboxError`].

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{Response, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::Session;
use crate::error::EboxError;
use crate::model::MessageProvider;

/// The query of a GET.
pub(super) type Query<'a> = [(&'a str, String)];

impl Session {
    /// Waits for one of the process's slots with e-Box (see [`super::EboxConfig::max_in_flight`]),
    /// taken before a call and kept through its retries. The wait is not part of the call's
    /// budget, which is e-Box's to spend: a body asked for while other messages' large
    /// attachments hold every slot waits for one, and does not time out.
    pub(super) async fn slot(&self) -> tokio::sync::OwnedSemaphorePermit {
        let slots = self.ebox.inner.in_flight.clone();
        slots.acquire_owned().await.expect("the semaphore is never closed")
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
    pub(super) async fn with_retries<T, F, Fut>(&self, what: &str, call: F) -> Result<T, EboxError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, EboxError>>,
    {
        let budget = self.config().call_budget;
        let started = tokio::time::Instant::now();
        let retried = call
            .retry(self.backoff())
            .sleep(tokio::time::sleep)
            .when(|e: &EboxError| e.retryable() && !matches!(e, EboxError::Unauthorized { .. }))
            // A wait that e-Box asks for and the budget cannot hold ends the call at once,
            // as what it is (rate limited), not later as a timeout.
            .adjust(move |e: &EboxError, planned| match (e.retry_after(), planned) {
                (Some(asked), Some(_)) if started.elapsed() + asked >= budget => None,
                (Some(asked), Some(_)) => Some(asked),
                (_, planned) => planned,
            })
            .notify(|e: &EboxError, after: Duration| {
                tracing::warn!(error = %e, retry_in_ms = after.as_millis() as u64, "e-Box call failed; retrying");
            });
        tokio::time::timeout(budget, retried)
            .await
            .unwrap_or_else(|_| Err(EboxError::Timeout { what: what.to_owned() }))
    }

    /// One authorised GET; a 401 gets one fresh token and one more try. The caller holds
    /// a slot (see [`Self::slot`]).
    pub(super) async fn get_once(&self, what: &str, url: &Url, query: &Query<'_>) -> Result<Response, EboxError> {
        let mut refreshed = false;
        loop {
            let token = self.access_token().await?;
            let response = self
                .ebox
                .inner
                .http
                .get(url.clone())
                .query(query)
                .bearer_auth(token.expose_secret())
                .send()
                .await
                .map_err(|e| EboxError::transport(what, &e))?;
            let status = response.status();
            tracing::debug!(what, status = status.as_u16(), "e-Box answered");
            if status.is_success() {
                return Ok(response);
            }
            if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) && !refreshed {
                // Expired or revoked early (401), or issued before a scope was granted
                // (403: a token carries the scopes of its moment, and a kept one lives up
                // to an hour): one transparent refresh. A fresh token refused again is
                // the answer.
                self.forget_token();
                refreshed = true;
                continue;
            }
            let retry_after = retry_after(&response);
            let body = response.bytes().await.unwrap_or_default();
            return Err(status_error(what, status, retry_after, &body));
        }
    }

    /// One authorised GET of JSON, with retries; the answer's bytes and their parse.
    pub(super) async fn get_json_bytes<T: DeserializeOwned>(
        &self,
        what: &str,
        url: &Url,
        query: &Query<'_>,
    ) -> Result<(bytes::Bytes, T), EboxError> {
        let _slot = self.slot().await;
        self.with_retries(what, || async {
            let response = self.get_once(what, url, query).await?;
            let body = response.bytes().await.map_err(|e| EboxError::transport(what, &e))?;
            let parsed = serde_json::from_slice(&body).map_err(|e| EboxError::malformed(what, e))?;
            Ok((body, parsed))
        })
        .await
    }

    pub(super) async fn get_json<T: DeserializeOwned>(
        &self,
        what: &str,
        url: &Url,
        query: &Query<'_>,
    ) -> Result<T, EboxError> {
        Ok(self.get_json_bytes(what, url, query).await?.1)
    }
}

impl Session {
    /// Every item of a small paged list (reference data, a message's attachments),
    /// following its count; without one, until a page comes back empty.
    pub(super) async fn paged(&self, what: &str, url: &Url) -> Result<Vec<serde_json::Value>, EboxError> {
        let (mut items, mut size) = (Vec::new(), super::PAGE_SIZE);
        for _ in 0..1000 {
            let query = [
                ("page", (items.len() / size + 1).to_string()),
                ("pageSize", size.to_string()),
            ];
            let page: crate::model::Page = self.get_json(what, url, &query).await?;
            let served = page.items.len();
            items.extend(page.items);
            if served == 0 || page.total_items.is_some_and(|t| items.len() >= t as usize) {
                break;
            }
            if served < size {
                size = super::walk::served_page_size(items.len(), served);
            }
        }
        Ok(items)
    }
}

pub(super) fn parse_url(what: &str, url: &str) -> Result<Url, EboxError> {
    Url::parse(url).map_err(|e| EboxError::malformed(what, format!("bad URL {url:?}: {e}")))
}

/// `base` plus path segments, each percent-encoded: an id can never change the path.
pub fn endpoint(base: &str, segments: &[&str]) -> Result<Url, EboxError> {
    let mut url = parse_url("provider URL", base)?;
    url.path_segments_mut()
        .map_err(|_| EboxError::malformed("provider URL", format!("{base:?} cannot be a base")))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// `ebox/messages/{message_id}` and `tail` under `provider`'s URL.
pub(super) fn message_url(provider: &MessageProvider, message_id: &str, tail: &[&str]) -> Result<Url, EboxError> {
    endpoint(
        &provider.message_provider_url,
        &[&["ebox", "messages", message_id], tail].concat(),
    )
}

pub(super) fn retry_after(response: &Response) -> Option<Duration> {
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
    code: Option<String>,
    message: Option<String>,
}

pub(super) fn status_error(what: &str, status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> EboxError {
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
