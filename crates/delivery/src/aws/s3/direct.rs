//! S3's `PutObject` sent without the SDK's request pipeline.
//!
//! A message stores three or four objects, and through the SDK each such call cost this
//! process about 130 us of CPU more than a plain HTTP request with the same body
//! (`request_floor`): the pipeline applies the client's and the operation's configuration
//! again, clones and runs some twenty interceptors, and evaluates the endpoint rules, for
//! every call. What a `PutObject` needs of all that is taken from the SDK's own parts, used
//! directly:
//!
//! - **Where:** the bucket's URL as the SDK's endpoint rules name it (region, FIPS, dual
//!   stack, path style, an overridden endpoint), learnt once per process from a `PutObject`
//!   the SDK presigns. The key goes into the path as the SDK encodes it.
//! - **The signature:** `aws-sigv4`, the SDK's signer, with S3's settings (the path is not
//!   encoded twice nor normalised) over an unsigned payload: the body's SHA-256 travels as
//!   `x-amz-checksum-sha256`, which S3 checks before it stores anything.
//! - **Who:** the configuration's credentials provider, whose credentials are kept until
//!   five minutes before they expire.
//! - **Again:** a body held whole is sent again after a transient fault, by the policy of
//!   every other call ([`MAX_ATTEMPTS`], 100 ms doubling to 2 s, with jitter). A streamed
//!   body cannot be sent twice, by the SDK either: its delivery tries again.
//!   What is transient is [`retryable_answer`]'s to say, as for every adapter.
//! - **Stalls:** an upload S3 stops taking, or a request it does not answer, fails after
//!   [`STALL`]. A body waiting on its own source (e-Box) is that source's to time out.
//!
//! Where the endpoint rules name anything but SigV4 for `s3` on a plain URL (a directory
//! bucket's session auth, an access point's SigV4a), the SDK sends every write as before;
//! while the endpoint cannot be learnt (the credentials not there yet), it sends this one,
//! and the next write tries again. As with the SDK, a redirect is an answer, not followed.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
    sign,
};
use bytes::Bytes;
use futures::Stream;
use futures::stream::BoxStream;

use super::{Payload, Write};
use crate::aws::{INITIAL_BACKOFF, MAX_ATTEMPTS, MAX_BACKOFF, retryable_answer};
use crate::ports::{Insert, StoreError};

/// How long an upload may go without S3 taking any of it, or a request without its
/// answer, before it fails (retryable).
const STALL: Duration = Duration::from_secs(20);

const OP: &str = "put object";

/// The key the endpoint is learnt with; never written.
const PROBE_KEY: &str = "probe";

/// What a direct `PutObject` needs, learnt once per process and bucket.
pub(super) struct Direct {
    http: reqwest::Client,
    /// The bucket's URL, without a trailing `/`: a key's path follows it.
    base: String,
    /// The query the SDK sends with a `PutObject` (`?x-id=PutObject`), or nothing.
    query: String,
    region: String,
    service: String,
    credentials: CredentialCache,
    stall: Duration,
}

impl Direct {
    /// The direct path for `bucket`: `Ok(None)` when the SDK's endpoint for it is not
    /// SigV4 on a plain URL (the SDK then sends every write); `Err` when it could not be
    /// learnt this time (no credentials yet, say), to be tried again at the next write.
    pub(super) async fn learn(
        client: &aws_sdk_s3::Client,
        bucket: &str,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Result<Option<Self>, ()> {
        match Self::try_learn(client, bucket, credentials).await {
            Ok(direct) => Ok(Some(direct)),
            Err(Unlearnt::Here(why)) => {
                tracing::info!(bucket, reason = %why, "S3 writes go through the SDK's pipeline");
                Ok(None)
            }
            Err(Unlearnt::Yet(why)) => {
                tracing::info!(bucket, reason = %why, "this S3 write goes through the SDK's pipeline");
                Err(())
            }
        }
    }

    async fn try_learn(
        client: &aws_sdk_s3::Client,
        bucket: &str,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Result<Self, Unlearnt> {
        use aws_sdk_s3::presigning::PresigningConfig;
        let provider = credentials.ok_or(Unlearnt::Here("no credentials provider".into()))?;
        let presigning =
            PresigningConfig::expires_in(Duration::from_secs(60)).map_err(|e| Unlearnt::Here(e.to_string()))?;
        // Presigning asks the provider for credentials, which can fail for a while.
        let presigned = client
            .put_object()
            .bucket(bucket)
            .key(PROBE_KEY)
            .presigned(presigning)
            .await
            .map_err(|e| Unlearnt::Yet(aws_smithy_types::error::display::DisplayErrorContext(&e).to_string()))?;
        let target = Target::from_presigned(presigned.uri()).map_err(Unlearnt::Here)?;
        let roots = ebox::roots::system();
        if roots.is_empty() && target.base.starts_with("https:") {
            return Err(Unlearnt::Here("no trusted root certificates".into()));
        }
        let http = reqwest::Client::builder()
            .tls_certs_only(roots.iter().filter_map(|c| reqwest::Certificate::from_der(c).ok()))
            .http1_only()
            // As the SDK: an answer that redirects is an error, not a PUT sent elsewhere
            // (nor, after a 303, a GET reported as the write).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(ebox::USER_AGENT)
            .build()
            .map_err(|e| Unlearnt::Here(e.to_string()))?;
        Ok(Self {
            http,
            base: target.base,
            query: target.query,
            region: target.region,
            service: target.service,
            credentials: CredentialCache::new(provider),
            stall: STALL,
        })
    }

    /// Writes one object. A body held whole is sent again after a transient fault.
    pub(super) async fn put(&self, write: Write<'_>) -> Result<Insert, StoreError> {
        use backon::{ExponentialBuilder, Retryable};
        let url = format!(
            "{}/{}{}",
            self.base,
            aws_smithy_http::label::fmt_string(write.key, aws_smithy_http::label::EncodingStrategy::Greedy),
            self.query
        );
        let mut headers = vec![
            ("content-type".to_owned(), write.content_type.to_owned()),
            ("content-length".to_owned(), write.length.to_string()),
            // The algorithm named, as the SDK names it: S3 keeps the checksum with the
            // object, and `HeadObject` gives it back.
            ("x-amz-sdk-checksum-algorithm".to_owned(), "SHA256".to_owned()),
            ("x-amz-checksum-sha256".to_owned(), write.sha256.clone()),
        ];
        if write.if_absent {
            headers.push(("if-none-match".to_owned(), "*".to_owned()));
        }
        headers.extend(
            write
                .metadata
                .iter()
                .map(|(n, v)| (format!("x-amz-meta-{n}"), v.clone())),
        );
        let attempt = |body: reqwest::Body, progress: Option<Arc<Progress>>| {
            let (url, headers, key, if_absent) = (&url, &headers, write.key, write.if_absent);
            async move {
                let request = self.request(url, headers, key).await?.body(body);
                self.exchange(request, key, if_absent, progress).await
            }
        };
        match write.body {
            Payload::Bytes(bytes) => {
                (|| attempt(reqwest::Body::from(bytes.clone()), None))
                    .retry(
                        ExponentialBuilder::default()
                            .with_min_delay(INITIAL_BACKOFF)
                            .with_max_delay(MAX_BACKOFF)
                            .with_max_times(MAX_ATTEMPTS as usize - 1)
                            .with_jitter(),
                    )
                    .when(|e: &StoreError| e.retryable)
                    .await
            }
            Payload::Stream(chunks) => {
                let progress = Arc::new(Progress::new());
                let watched = Watched {
                    inner: chunks,
                    progress: progress.clone(),
                };
                attempt(reqwest::Body::wrap_stream(watched), Some(progress)).await
            }
        }
    }

    /// The request with its headers and signature.
    async fn request(
        &self,
        url: &str,
        headers: &[(String, String)],
        key: &str,
    ) -> Result<reqwest::RequestBuilder, StoreError> {
        let credentials = self.credentials.get(key).await?;
        let identity = credentials.into();
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let unsigned =
            |e: &dyn std::fmt::Display| StoreError::new(OP, key, format!("the request could not be signed: {e}"));
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| unsigned(&e))?
            .into();
        let signable = SignableRequest::new(
            "PUT",
            url,
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| unsigned(&e))?;
        let (signature, _) = sign(signable, &params).map_err(|e| unsigned(&e))?.into_parts();
        let mut request = self.http.put(url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        for (name, value) in signature.headers() {
            let mut value = reqwest::header::HeaderValue::from_str(value).map_err(|e| unsigned(&e))?;
            // Never printed, should a request be shown (`authorization`, the session token).
            value.set_sensitive(name == "authorization" || name == "x-amz-security-token");
            request = request.header(name, value);
        }
        Ok(request)
    }

    /// Sends the request and reads S3's answer, within [`STALL`] of the last progress.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        key: &str,
        if_absent: bool,
        progress: Option<Arc<Progress>>,
    ) -> Result<Insert, StoreError> {
        let exchange = async {
            let answer = request.send().await.map_err(|e| transport_error(key, &e))?;
            let status = answer.status().as_u16();
            if (200..300).contains(&status) {
                return Ok(Insert::Inserted);
            }
            if status == 412 && if_absent {
                return Ok(Insert::AlreadyExists);
            }
            let request_id = header(&answer, "x-amz-request-id");
            let body = answer.bytes().await.unwrap_or_default();
            Err(answer_error(key, status, &body, request_id))
        };
        // From here: the credentials' fetch before it is not S3's to answer for.
        if let Some(progress) = &progress {
            progress.record(Progress::TAKING);
        }
        let stalled = async {
            match &progress {
                Some(progress) => progress.stalled(self.stall).await,
                None => tokio::time::sleep(self.stall).await,
            }
        };
        tokio::select! {
            result = exchange => result,
            () = stalled => Err(StoreError {
                retryable: true,
                ..StoreError::new(OP, key, format!("S3 neither took the upload nor answered it for {:?}", self.stall))
            }),
        }
    }
}

fn header(answer: &reqwest::Response, name: &str) -> Option<String> {
    answer.headers().get(name)?.to_str().ok().map(str::to_owned)
}

/// An answer of S3 that is not a success: its code and message, and whether to try again.
fn answer_error(key: &str, status: u16, body: &[u8], request_id: Option<String>) -> StoreError {
    let (code, message) = error_code_and_message(body);
    let mut text = match (&code, &message) {
        (Some(code), Some(message)) => format!("{code}: {message} (HTTP {status}"),
        (Some(code), None) => format!("{code} (HTTP {status}"),
        (None, _) => format!("no error document (HTTP {status}"),
    };
    if let Some(id) = request_id {
        text.push_str(&format!(", request id {id}"));
    }
    text.push(')');
    StoreError {
        retryable: retryable_answer(code.as_deref(), Some(status)),
        ..StoreError::new(OP, key, text)
    }
}

/// `Code` and `Message` of S3's XML error document, when it has them.
fn error_code_and_message(body: &[u8]) -> (Option<String>, Option<String>) {
    use aws_smithy_xml::decode::{Document, try_data};
    let (mut code, mut message) = (None, None);
    let Ok(text) = std::str::from_utf8(body) else {
        return (code, message);
    };
    let mut document = Document::new(text);
    let Ok(mut root) = document.root_element() else {
        return (code, message);
    };
    while let Some(mut tag) = root.next_tag() {
        let name = tag.start_el().local().to_owned();
        let value = try_data(&mut tag).ok().map(|v| v.into_owned());
        match name.as_str() {
            "Code" => code = value,
            "Message" => message = value,
            _ => {}
        }
    }
    (code, message)
}

/// No answer: the connection, or the body's own source, failed. Worth another try.
fn transport_error(key: &str, err: &reqwest::Error) -> StoreError {
    use std::error::Error;
    let mut chain = String::new();
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    let what = if err.is_connect() {
        "could not reach the service"
    } else if err.is_timeout() {
        "timed out"
    } else {
        "the request failed"
    };
    StoreError {
        retryable: true,
        ..StoreError::new(OP, key, format!("{what}{chain}"))
    }
}

/// Why the direct path is not taken: for this bucket and process (`Here`), or not yet.
enum Unlearnt {
    Here(String),
    Yet(String),
}

/// Where the presigned `PutObject` of [`PROBE_KEY`] says a write goes and how it is signed.
#[derive(Debug, PartialEq)]
struct Target {
    base: String,
    query: String,
    region: String,
    service: String,
}

impl Target {
    fn from_presigned(uri: &str) -> Result<Self, String> {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let base = path
            .strip_suffix(&format!("/{PROBE_KEY}"))
            .ok_or_else(|| "the presigned URL does not end in its key".to_owned())?;
        let parsed = reqwest::Url::parse(uri).map_err(|e| e.to_string())?;
        if parsed.host_str().is_none() {
            return Err("the presigned URL has no host".to_owned());
        }
        let (mut algorithm, mut scope, mut kept) = (None, None, Vec::new());
        for (name, value) in parsed.query_pairs() {
            match name.as_ref() {
                // A directory bucket's session: its own auth, which the SDK keeps.
                n if n.eq_ignore_ascii_case("X-Amz-S3session-Token") => {
                    return Err("the endpoint is a directory bucket's session".to_owned());
                }
                "X-Amz-Algorithm" => algorithm = Some(value.into_owned()),
                "X-Amz-Credential" => scope = Some(value.into_owned()),
                n if n.starts_with("X-Amz-") || n.starts_with("x-amz-") => {}
                _ => kept.push((name.into_owned(), value.into_owned())),
            }
        }
        if algorithm.as_deref() != Some("AWS4-HMAC-SHA256") {
            return Err(format!(
                "the endpoint is signed with {}",
                algorithm.as_deref().unwrap_or("nothing")
            ));
        }
        // AKID/date/region/service/aws4_request
        let scope = scope.ok_or("the presigned URL names no credential scope")?;
        let parts: Vec<&str> = scope.split('/').collect();
        let [_, _, region, service, "aws4_request"] = parts.as_slice() else {
            return Err("the presigned URL's credential scope is not SigV4's".to_owned());
        };
        if *service != "s3" {
            return Err(format!("the endpoint is signed for {service}, not s3"));
        }
        // Kept as the SDK sent them: the query of every write.
        let query = query
            .split('&')
            .filter(|pair| kept.iter().any(|(n, _)| pair.split('=').next() == Some(n.as_str())))
            .collect::<Vec<_>>()
            .join("&");
        Ok(Self {
            base: base.to_owned(),
            query: if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            },
            region: (*region).to_owned(),
            service: (*service).to_owned(),
        })
    }
}

/// The provider's credentials, kept until five minutes before they expire.
struct CredentialCache {
    provider: SharedCredentialsProvider,
    current: tokio::sync::Mutex<Option<Credentials>>,
}

impl CredentialCache {
    const MARGIN: Duration = Duration::from_secs(300);

    fn new(provider: SharedCredentialsProvider) -> Self {
        Self {
            provider,
            current: tokio::sync::Mutex::new(None),
        }
    }

    async fn get(&self, key: &str) -> Result<Credentials, StoreError> {
        let mut current = self.current.lock().await;
        let fresh = |c: &Credentials| c.expiry().is_none_or(|at| at > SystemTime::now() + Self::MARGIN);
        if let Some(credentials) = current.as_ref().filter(|c| fresh(c)) {
            return Ok(credentials.clone());
        }
        match self.provider.provide_credentials().await {
            Ok(credentials) => {
                *current = Some(credentials.clone());
                Ok(credentials)
            }
            Err(e) => {
                // As through the SDK, whose failure to load credentials is a dispatch
                // failure: worth another try (the next run's, if not this one's).
                let retryable = true;
                let message = format!(
                    "no credentials: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                );
                Err(StoreError {
                    retryable,
                    ..StoreError::new(OP, key, message)
                })
            }
        }
    }
}

/// What an upload's body was last doing, and when: one word, so that the two are always
/// read together.
struct Progress {
    started: Instant,
    /// Milliseconds after `started` of the last poll, shifted left by two, and the state.
    last: AtomicU64,
}

impl Progress {
    /// A chunk was handed on: S3 is to take the next.
    const TAKING: u64 = 0;
    /// The body's source has nothing yet: its own timeouts govern.
    const WAITING_ON_SOURCE: u64 = 1;
    /// The body ended: S3 is to answer.
    const SENT: u64 = 2;

    fn new() -> Self {
        Self {
            started: Instant::now(),
            last: AtomicU64::new(Self::TAKING),
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn record(&self, state: u64) {
        self.last.store((self.now_ms() << 2) | state, Ordering::Relaxed);
    }

    /// Ends once S3 has neither taken more of the body nor answered for `limit`.
    async fn stalled(&self, limit: Duration) {
        let limit_ms = limit.as_millis() as u64;
        loop {
            let last = self.last.load(Ordering::Relaxed);
            let idle = self.now_ms().saturating_sub(last >> 2);
            if last & 3 != Self::WAITING_ON_SOURCE && idle >= limit_ms {
                return;
            }
            let left = limit_ms.saturating_sub(idle).max(limit_ms / 4).max(1);
            tokio::time::sleep(Duration::from_millis(left)).await;
        }
    }
}

/// An upload's body that tells its [`Progress`] of each poll.
struct Watched {
    inner: BoxStream<'static, Result<Bytes, std::io::Error>>,
    progress: Arc<Progress>,
}

impl Stream for Watched {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        self.progress.record(match &polled {
            Poll::Pending => Progress::WAITING_ON_SOURCE,
            Poll::Ready(Some(_)) => Progress::TAKING,
            Poll::Ready(None) => Progress::SENT,
        });
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_is_read_from_a_virtual_hosted_presigned_url() {
        let uri = "https://verdeelbak.s3.eu-west-1.amazonaws.com/probe?x-id=PutObject&X-Amz-Algorithm=AWS4-HMAC-SHA256\
                   &X-Amz-Credential=AKIDEXAMPLE%2F20261206%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20261206T000000Z\
                   &X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=abc";
        assert_eq!(
            Target::from_presigned(uri).unwrap(),
            Target {
                base: "https://verdeelbak.s3.eu-west-1.amazonaws.com".into(),
                query: "?x-id=PutObject".into(),
                region: "eu-west-1".into(),
                service: "s3".into(),
            }
        );
    }

    #[test]
    fn a_path_style_target_keeps_its_bucket_and_port() {
        let uri = "http://127.0.0.1:5000/verdeelbak-1/probe?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                   &X-Amz-Credential=x%2F20261206%2Feu-central-1%2Fs3%2Faws4_request&X-Amz-Signature=abc";
        let target = Target::from_presigned(uri).unwrap();
        assert_eq!(target.base, "http://127.0.0.1:5000/verdeelbak-1");
        assert_eq!(target.query, "");
        assert_eq!(target.region, "eu-central-1");
    }

    #[test]
    fn endpoints_not_signed_with_sigv4_are_left_to_the_sdk() {
        let sigv4a = "https://mrap.accesspoint.s3-global.amazonaws.com/probe?X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256\
                      &X-Amz-Credential=x%2F20261206%2Fs3%2Faws4_request";
        assert!(
            Target::from_presigned(sigv4a)
                .unwrap_err()
                .contains("AWS4-ECDSA-P256-SHA256")
        );
        let directory = "https://b--euw1-az1--x-s3.s3express-euw1-az1.eu-west-1.amazonaws.com/probe?x-id=PutObject\
                         &X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-S3session-Token=t\
                         &X-Amz-Credential=x%2F20261206%2Feu-west-1%2Fs3express%2Faws4_request";
        assert!(
            Target::from_presigned(directory)
                .unwrap_err()
                .contains("directory bucket")
        );
        let other_service = "https://b.example.com/probe?X-Amz-Algorithm=AWS4-HMAC-SHA256\
                             &X-Amz-Credential=x%2F20261206%2Feu-west-1%2Fs3-object-lambda%2Faws4_request";
        assert!(
            Target::from_presigned(other_service)
                .unwrap_err()
                .contains("s3-object-lambda")
        );
        let unsigned = "https://b.s3.eu-west-1.amazonaws.com/probe";
        assert!(Target::from_presigned(unsigned).is_err());
        let elsewhere = "https://b.s3.eu-west-1.amazonaws.com/other?X-Amz-Algorithm=AWS4-HMAC-SHA256";
        assert!(Target::from_presigned(elsewhere).is_err());
    }

    #[test]
    fn s3_error_documents_give_their_code_message_and_verdict() {
        let slow_down = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
                          <Message>Please reduce your request rate.</Message><RequestId>R1</RequestId></Error>";
        let err = answer_error("k", 503, slow_down, Some("R1".into()));
        assert_eq!(
            err.message,
            "SlowDown: Please reduce your request rate. (HTTP 503, request id R1)"
        );
        assert!(err.retryable);
        let denied = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        let err = answer_error("k", 403, denied, None);
        assert_eq!(err.message, "AccessDenied: Access Denied (HTTP 403)");
        assert!(!err.retryable);
        assert_eq!((err.operation, err.target.as_str()), (OP, "k"));
        let err = answer_error("k", 500, b"", None);
        assert!(err.retryable, "a 5xx without a document");
        assert_eq!(err.message, "no error document (HTTP 500)");
    }

    /// Unsigned IAM calls to a moto server that checks signatures only after its first
    /// few requests: a user allowed everything, and its access key.
    async fn user_with_access_key(moto_url: &str) -> (String, String) {
        let http = reqwest::Client::new();
        // moto routes a request by the service its credential scope names.
        let iam = |form: Vec<(&'static str, String)>| {
            http.post(format!("{moto_url}/"))
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=setup/20261206/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
                )
                .form(&[vec![("Version", "2010-05-08".to_owned())], form].concat())
                .send()
        };
        let text = |answer: reqwest::Response| async move {
            assert!(answer.status().is_success(), "{:?}", answer.status());
            answer.text().await.unwrap()
        };
        let between = |text: &str, tag: &str| {
            let start = text.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
            text[start..start + text[start..].find('<').unwrap()].to_owned()
        };
        let user = || ("UserName", "writer".to_owned());
        text(iam(vec![("Action", "CreateUser".into()), user()]).await.unwrap()).await;
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        let put_policy = vec![
            ("Action", "PutUserPolicy".into()),
            user(),
            ("PolicyName", "all".into()),
            ("PolicyDocument", policy.into()),
        ];
        text(iam(put_policy).await.unwrap()).await;
        let key = text(iam(vec![("Action", "CreateAccessKey".into()), user()]).await.unwrap()).await;
        (between(&key, "AccessKeyId"), between(&key, "SecretAccessKey"))
    }

    async fn clients(moto_url: &str, id: &str, secret: &str) -> crate::aws::AwsClients {
        let sdk = crate::aws::loader()
            .endpoint_url(moto_url)
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(Credentials::new(id, secret, None, None, "test"))
            .load()
            .await;
        crate::aws::AwsClients::new(&sdk)
    }

    /// moto, told to check signatures, checks each one with botocore's signer, which
    /// shares no code with `aws-sigv4`. Keys with the characters S3 signs with care (spaces,
    /// `+`, `=`, `%`, `~`, non-ASCII), metadata, bodies whole and streamed: each write
    /// signed here is accepted, and reads back. The same writes with a wrong secret are
    /// refused for their signature, so the check is really made.
    #[tokio::test]
    async fn writes_are_signed_as_s3_checks_them() {
        let moto = testkit::MotoServer::start_own_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
        let (id, secret) = user_with_access_key(&moto.url).await;
        let aws = clients(&moto.url, &id, &secret).await;
        let bucket = "signed-writes";
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        let location = CreateBucketConfiguration::builder()
            .location_constraint(BucketLocationConstraint::EuWest1)
            .build();
        aws.s3
            .create_bucket()
            .bucket(bucket)
            .create_bucket_configuration(location)
            .send()
            .await
            .expect("the bucket, signed by the SDK");
        let direct = Direct::learn(&aws.s3, bucket, aws.credentials.clone())
            .await
            .unwrap()
            .expect("moto's endpoint is SigV4 on a plain URL");
        let metadata = [("message-id".to_owned(), "m 1+2=3".to_owned())];
        let keys = [
            "verdeelbak/0403170701/ebox/m1/attachments/a1/brief.pdf",
            "verdeelbak/0403170701/ebox/m 2/attachments/a+b=c~d/Beslissing (definitief) 100%.pdf",
            "verdeelbak/0403170701/ebox/m3/attachments/a3/été, Straße & ½.pdf",
        ];
        let write = |key: &'static str, streamed: bool, body: &'static [u8]| Write {
            key,
            body: if streamed {
                let chunks = body.chunks(3).map(|c| Ok(Bytes::from_static(c))).collect::<Vec<_>>();
                Payload::Stream(Box::pin(futures::stream::iter(chunks)))
            } else {
                Payload::Bytes(Bytes::from_static(body))
            },
            length: body.len() as u64,
            sha256: base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                crate::ports::sha256_of(body),
            ),
            content_type: "application/pdf",
            if_absent: true,
            metadata: &metadata,
        };
        for (n, key) in keys.into_iter().enumerate() {
            let streamed = n % 2 == 1;
            let written = direct.put(write(key, streamed, b"%PDF-1.7 signed")).await;
            assert_eq!(written.unwrap(), Insert::Inserted, "{key}");
            let stored = aws.s3.get_object().bucket(bucket).key(key).send().await.expect(key);
            assert_eq!(
                stored.metadata().and_then(|m| m.get("message-id")).map(String::as_str),
                Some("m 1+2=3")
            );
            assert_eq!(
                &stored.body.collect().await.unwrap().into_bytes()[..],
                b"%PDF-1.7 signed"
            );
            // Once there, the same key is not written again.
            let again = direct.put(write(key, streamed, b"%PDF-1.7 other")).await;
            assert_eq!(again.unwrap(), Insert::AlreadyExists, "{key}");
        }
        let wrong = clients(&moto.url, &id, "not-the-secret").await;
        let forged = Direct::learn(&wrong.s3, bucket, wrong.credentials.clone())
            .await
            .unwrap()
            .unwrap();
        for streamed in [false, true] {
            let refused = forged
                .put(write("verdeelbak/0403170701/ebox/m4/a.pdf", streamed, b"x"))
                .await
                .unwrap_err();
            assert!(refused.message.contains("SignatureDoesNotMatch"), "{}", refused.message);
            assert!(!refused.retryable);
            assert!(!refused.message.contains("not-the-secret"));
        }
    }

    /// A writer aimed at `base`, giving up after `stall`, with fixed credentials.
    fn writer_at(base: String, stall: Duration) -> Direct {
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        Direct {
            http: reqwest::Client::new(),
            base,
            query: String::new(),
            region: "eu-west-1".into(),
            service: "s3".into(),
            credentials: CredentialCache::new(SharedCredentialsProvider::new(credentials)),
            stall,
        }
    }

    /// A server that accepts connections and never answers; it reads what it is sent when
    /// `reads`, else nothing. Its connections stay open until the test ends.
    fn silent_server(reads: bool) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                std::thread::spawn(move || {
                    let mut sink = [0u8; 65536];
                    while reads && std::io::Read::read(&mut stream, &mut sink).is_ok_and(|n| n > 0) {}
                    // Held open, unread, until the test's process ends.
                    std::thread::park();
                });
            }
        });
        format!("http://{addr}/bucket")
    }

    fn streamed(
        chunks: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
        length: u64,
    ) -> Write<'static> {
        Write {
            key: "verdeelbak/0403170701/a.pdf",
            body: Payload::Stream(Box::pin(chunks)),
            length,
            sha256: String::new(),
            content_type: "application/pdf",
            if_absent: true,
            metadata: &[],
        }
    }

    /// An upload S3 stops taking, and an upload it takes whole but never answers, each
    /// fail once `stall` passes without progress, retryable. An upload whose own source
    /// has nothing yet is not S3's stall: it waits on (the source's own timeouts govern).
    #[tokio::test]
    async fn a_stalled_upload_fails_but_one_waiting_on_its_source_does_not() {
        use futures::StreamExt;
        let stall = Duration::from_millis(300);
        let bound = Duration::from_secs(20);
        const CHUNK: &[u8] = &[0u8; 65536];
        // 64 MB: more than any socket buffer holds, so the writes stop.
        let big = futures::stream::iter((0..1024).map(|_| Ok(Bytes::from_static(CHUNK))));
        let not_taken = writer_at(silent_server(false), stall);
        let err = tokio::time::timeout(bound, not_taken.put(streamed(big, 1024 * 65536)))
            .await
            .expect("the stall ends the write")
            .unwrap_err();
        assert!(
            err.retryable && err.message.contains("neither took the upload"),
            "{err:?}"
        );

        let small = futures::stream::iter([Ok(Bytes::from_static(b"%PDF-1.7"))]);
        let unanswered = writer_at(silent_server(true), stall);
        let err = tokio::time::timeout(bound, unanswered.put(streamed(small, 8)))
            .await
            .expect("the stall ends the write")
            .unwrap_err();
        assert!(err.retryable && err.message.contains("nor answered it"), "{err:?}");

        let waiting = futures::stream::iter([Ok(Bytes::from_static(b"%PDF"))]).chain(futures::stream::pending());
        let on_source = writer_at(silent_server(true), stall);
        let still = tokio::time::timeout(stall * 5, on_source.put(streamed(waiting, 8))).await;
        assert!(
            still.is_err(),
            "a body waiting on its source is not failed for S3's stall: {still:?}"
        );
    }
}
