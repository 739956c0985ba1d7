//! AWS adapters of the ports, and the one place that builds the SDK configuration.

pub mod bootstrap;
mod dynamodb;
mod eventbridge;
mod lambda;
mod s3;
mod secrets;
mod user_agent;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

pub use dynamodb::{DynamoConnections, DynamoState};
pub use eventbridge::EventBridgeBus;
pub use lambda::{LambdaDispatcher, run_fetch};
pub use s3::{S3Objects, bucket_names};
pub use secrets::SecretsManager;

use crate::ports::{BoxError, StoreError};

/// Loads the SDK configuration from the environment (region, credentials, and the
/// standard `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` overrides), with this
/// project's retry and timeout policy.
pub async fn load_from_env() -> SdkConfig {
    loader().load().await
}

/// One HTTPS client for every SDK client made from the configuration: one connection pool
/// and one set of trusted roots per process. Left to themselves, each SDK client makes its
/// own default client, and each of those reads and parses the system's roots again, at
/// its first request (four times in a fetch run). Built as the SDK's default is: rustls with
/// aws-lc, the proxy from the environment, the runtime's sleep; its roots are the ones the
/// e-Box client trusts too, read once per process ([`ebox::roots`]), given by `roots` as
/// one PEM bundle when a connection is first needed.
///
/// The SDK also builds a connector as each of its clients is made, and drops it: only so
/// that the roots are read at initialisation, not at the first request. At a fetch
/// process's start that parsed every root five more times. That call gets a plain
/// connector here; the roots are read at initialisation all the same, by [`loader`].
fn shared_https_client(
    roots: impl Fn() -> String + Send + Sync + 'static,
) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig, tls};
    Builder::new().build_with_connector_fn(move |settings, components| {
        // Without the runtime's components, it is that check: its connector is not used.
        let Some(components) = components else {
            return ConnectorBuilder::default().build_http();
        };
        let mut connector =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc));
        let roots = tls::TrustStore::empty().with_pem_certificate(roots());
        match tls::TlsContext::builder().with_trust_store(roots).build() {
            Ok(context) => {
                connector.set_tls_context(context);
            }
            // The SDK's own: the system's roots, read again.
            Err(e) => tracing::warn!(error = %e, "the shared trusted roots were not taken; the SDK reads its own"),
        }
        connector.set_connector_settings(settings.cloned());
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.set_sleep_impl(components.sleep_impl());
        connector.build()
    })
}

/// Attempts of one call, the first included: backoff doubles from 100 ms to 2 s, with
/// jitter, so a few seconds of throttling or 5xx are ridden out inside the call (about 6 s
/// at most), within the short calls' 30 s operation timeout (see [`AwsClients`]).
pub const MAX_ATTEMPTS: u32 = 8;
/// The first pause between attempts, and the longest (see [`MAX_ATTEMPTS`]).
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);

fn retry_config() -> RetryConfig {
    // Standard, not adaptive: adaptive mode's rate limiter assumes one resource per client,
    // while ours serve several (two tables), so throttling on one would slow the others,
    // lease renewals among them, which a run needs most when the store is slow.
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF)
}

/// The SDK configuration's loader with this project's retry and timeout policy, before
/// anything is loaded from the environment.
pub fn loader() -> aws_config::ConfigLoader {
    // At initialisation, as the SDK's own client reads them (see `shared_https_client`).
    let _ = ebox::roots::system();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(shared_https_client(|| ebox::roots::pem(ebox::roots::system())))
        .retry_config(retry_config())
        .timeout_config(TimeoutConfig::builder().connect_timeout(Duration::from_secs(3)).build())
}

/// Every client the project uses, made from one [`SdkConfig`].
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub events: aws_sdk_eventbridge::Client,
    /// The configuration's credentials, for the S3 writes sent without the SDK's pipeline
    /// ([`S3Objects`]).
    pub credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
}

impl AwsClients {
    pub fn new(sdk: &SdkConfig) -> Self {
        // Short calls get an overall bound; S3 does not, as an attachment upload may be long.
        let short = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(10))
            .operation_timeout(Duration::from_secs(30))
            .build();
        let agent = user_agent::FixedUserAgent;
        let dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk)
            .timeout_config(short.clone())
            .interceptor(agent);
        let secrets = aws_sdk_secretsmanager::config::Builder::from(sdk)
            .timeout_config(short.clone())
            .interceptor(agent);
        let lambda = aws_sdk_lambda::config::Builder::from(sdk)
            .timeout_config(short.clone())
            .interceptor(agent);
        let events = aws_sdk_eventbridge::config::Builder::from(sdk)
            .timeout_config(short)
            .interceptor(agent);
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .interceptor(agent)
            // An overridden endpoint (moto, a VPC endpoint by URL) has no per-bucket DNS.
            .force_path_style(endpoint_overridden(sdk, "S3"))
            // Checksums are given explicitly (SHA-256); no extra CRC32 of the SDK's own.
            .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired);
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            secrets: aws_sdk_secretsmanager::Client::from_conf(secrets.build()),
            lambda: aws_sdk_lambda::Client::from_conf(lambda.build()),
            events: aws_sdk_eventbridge::Client::from_conf(events.build()),
            credentials: sdk.credentials_provider(),
        }
    }
}

fn endpoint_overridden(sdk: &SdkConfig, service: &str) -> bool {
    sdk.endpoint_url().is_some()
        || std::env::var_os(format!("AWS_ENDPOINT_URL_{service}")).is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some()
}

/// Error codes that say "try again" beyond the SDK's own lists, which every adapter judges
/// by too: the services' internal faults, as each names them, and a DynamoDB transaction
/// meeting another write of one of its items (a lease renewal beside a fenced write).
const MORE_TRANSIENT_CODES: &[&str] = &[
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "InternalError",
    "InternalServerError",
    "InternalFailure",
    "InternalServiceError",
    "InternalServiceErrorException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ServiceException",
    "TransactionConflictException",
    "TransactionConflict",
];

/// Whether an error code says "try again".
pub fn transient_code(code: &str) -> bool {
    use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
    [THROTTLING_ERRORS, TRANSIENT_ERRORS, MORE_TRANSIENT_CODES]
        .iter()
        .any(|list| list.contains(&code))
}

/// Whether an answer of the service is worth another try later, after the SDK's own
/// retries: a transient code, or a 429 or 5xx status whatever the code says.
pub fn retryable_answer(code: Option<&str>, status: Option<u16>) -> bool {
    code.is_some_and(transient_code) || status.is_some_and(|s| s == 429 || (500..600).contains(&s))
}

/// Whether an SDK error of any service is worth another try later: no answer in time, no
/// connection, an answer cut off, or a transient answer ([`retryable_answer`]).
pub fn transient<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
    R: std::fmt::Debug + 'static,
{
    use aws_sdk_dynamodb::error::SdkError;
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(s) => retryable_answer(s.err().code(), raw_status(s.raw())),
        _ => false,
    }
}

/// Turns an SDK error into a [`StoreError`]. The SDK has retried transient faults already
/// (up to [`MAX_ATTEMPTS`]); what is still transient is worth another try later.
pub(crate) fn store_error<E, R>(
    operation: &'static str,
    target: impl Into<String>,
    err: aws_sdk_dynamodb::error::SdkError<E, R>,
) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    use aws_sdk_dynamodb::error::SdkError;
    let retryable = transient(&err);
    let message = match &err {
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(f) => format!("could not reach the service ({f:?})"),
        SdkError::ResponseError(_) => "unreadable or interrupted response".to_owned(),
        SdkError::ServiceError(s) => format!(
            "{}: {}",
            s.err().code().unwrap_or("unknown"),
            s.err().message().unwrap_or("")
        ),
        _ => err.to_string(),
    };
    StoreError {
        operation,
        target: target.into(),
        message,
        retryable,
        lease_lost: false,
        source: Some(Box::new(err) as BoxError),
    }
}

/// The HTTP status of a raw response, when it is one.
fn raw_status<R: std::fmt::Debug + 'static>(raw: &R) -> Option<u16> {
    let any: &dyn std::any::Any = raw;
    any.downcast_ref::<aws_smithy_runtime_api::http::Response>()
        .map(|r| r.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::retryable_answer;

    #[test]
    fn throttling_and_transient_faults_are_retryable_and_the_rest_is_not() {
        // Every service's names, judged in one place: DynamoDB's transaction cancellation
        // reasons, Lambda's throttling, Secrets Manager's fault.
        for code in [
            "ThrottlingError",
            "TransactionConflict",
            "TooManyRequestsException",
            "InternalServiceError",
        ] {
            assert!(super::transient_code(code), "{code}");
        }
        for code in [
            "ThrottlingException",
            "SlowDown",
            "InternalError",
            "ServiceUnavailable",
            "RequestTimeout",
        ] {
            assert!(retryable_answer(Some(code), Some(400)), "{code}");
        }
        assert!(retryable_answer(None, Some(503)), "a 5xx without a code");
        assert!(retryable_answer(Some("Whatever"), Some(500)), "a 5xx whatever its code");
        assert!(retryable_answer(None, Some(429)));
        for code in [
            "AccessDeniedException",
            "ValidationException",
            "ResourceNotFoundException",
            "NoSuchBucket",
        ] {
            assert!(!retryable_answer(Some(code), Some(400)), "{code}");
        }
        assert!(!retryable_answer(None, None));
    }

    /// An SDK configuration for a test server at `url`, through the shared HTTPS client
    /// trusting only `roots`; no retries.
    async fn sdk_trusting(url: String, roots: Vec<rustls_pki_types::CertificateDer<'static>>) -> aws_config::SdkConfig {
        aws_config::defaults(super::BehaviorVersion::latest())
            .http_client(super::shared_https_client(move || ebox::roots::pem(&roots)))
            .retry_config(super::RetryConfig::disabled())
            .endpoint_url(url)
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("x", "y", None, None, "test"))
            .load()
            .await
    }

    /// The SDK's HTTPS client trusts the roots it is given, as one PEM bundle, and only
    /// them: a call to a server that one of them vouches for is answered; through roots
    /// without its CA, the call fails in the handshake.
    #[tokio::test]
    async fn the_sdk_trusts_the_roots_it_is_given_and_no_other_ca() {
        use aws_sdk_dynamodb::types::AttributeValue;
        let server = testkit::tls::TlsServer::start("application/x-amz-json-1.0", "{}");
        let stranger = testkit::tls::TlsServer::start("application/x-amz-json-1.0", "{}");
        let put = |roots: Vec<rustls_pki_types::CertificateDer<'static>>| {
            let url = server.url();
            async move {
                aws_sdk_dynamodb::Client::new(&sdk_trusting(url, roots).await)
                    .put_item()
                    .table_name("t")
                    .item("pk", AttributeValue::S("p".into()))
                    .send()
                    .await
            }
        };
        let answered = put(vec![stranger.ca().clone(), server.ca().clone()]).await;
        assert!(answered.is_ok(), "{answered:?}");
        let refused = put(vec![stranger.ca().clone()]).await.unwrap_err();
        let chain = format!("{:?}", aws_smithy_types::error::display::DisplayErrorContext(&refused));
        assert!(
            chain.contains("UnknownIssuer") || chain.to_lowercase().contains("certificate"),
            "{chain}"
        );
    }

    /// Every client the project makes names itself with the one fixed user agent, and
    /// sends neither of the SDK's own user agent headers; its requests are still signed.
    #[tokio::test]
    async fn every_client_sends_the_fixed_user_agent_and_not_the_sdks() {
        use aws_sdk_dynamodb::types::AttributeValue;
        let server = testkit::tls::TlsServer::start("application/json", "{}");
        let clients = super::AwsClients::new(&sdk_trusting(server.url(), vec![server.ca().clone()]).await);
        // What each answers to `{}` does not matter here, only what each sent.
        let _ = clients
            .dynamodb
            .put_item()
            .table_name("t")
            .item("pk", AttributeValue::S("p".into()))
            .send()
            .await;
        let _ = clients.s3.put_object().bucket("b").key("k").send().await;
        let _ = clients.secrets.get_secret_value().secret_id("s").send().await;
        let _ = clients.lambda.invoke().function_name("f").send().await;
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .detail("{}")
            .build();
        let _ = clients.events.put_events().entries(entry).send().await;

        let received = server.received();
        assert_eq!(received.len(), 5, "{received:#?}");
        for request in &received {
            let (line, headers) = (&request.request_line, &request.headers);
            let agents: Vec<_> = headers.get_all("user-agent").iter().collect();
            assert_eq!(agents, [ebox::USER_AGENT], "{line}: {headers:?}");
            assert!(!headers.contains_key("x-amz-user-agent"), "{line}: {headers:?}");
            let signed = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256 "));
            assert!(signed, "{line} is signed: {headers:?}");
        }
    }
}
