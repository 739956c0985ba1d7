use std::time::Duration;

/// Everything that can go wrong talking to e-Box, each saying what failed and whether
/// trying again can help. No variant carries a key, an assertion or a token.
#[derive(Debug, thiserror::Error)]
pub enum EboxError {
    #[error("key material: {0}")]
    Key(#[from] crate::credentials::KeyError),
    #[error("token refused ({status}, {code}): {description}")]
    TokenRefused {
        status: u16,
        /// The OAuth error code (`invalid_client`, `invalid_scope`, ...).
        code: String,
        description: String,
    },
    #[error(
        "token refused (invalid_scope): {description}; scopes asked for: {requested}. The client was not \
         granted one of them: leave EBOX_SCOPES and the connection's scopes unset, so that the token carries \
         every scope the client was granted, or set the connection's scopes to those its \"DocConsumer \
         e-Box Enterprise\" webservice account was granted"
    )]
    ScopeRefused {
        /// The scopes the request named.
        requested: String,
        description: String,
    },
    #[error("{what}: access token not accepted (401) even after a fresh one was fetched")]
    Unauthorized { what: String },
    #[error("{what}: a scope is missing (403)")]
    ScopeMissing { what: String },
    #[error("{what}: not found (404)")]
    NotFound { what: String },
    #[error("{what}: rate limited (429){}", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        what: String,
        retry_after: Option<Duration>,
    },
    #[error("{what}: e-Box answered {status}: {message}")]
    Unavailable { what: String, status: u16, message: String },
    #[error("{what}: e-Box answered {status}: {message}")]
    Refused { what: String, status: u16, message: String },
    #[error("{what}: malformed answer: {detail}")]
    Malformed { what: String, detail: String },
    #[error("attachment {attachment}: content does not match its digest (expected {expected}, got {actual})")]
    DigestMismatch {
        attachment: String,
        expected: String,
        actual: String,
    },
    #[error(
        "attachment {attachment}: body is not of the announced length ({expected} bytes announced, {actual} arrived)"
    )]
    WrongLength {
        attachment: String,
        expected: u64,
        actual: u64,
    },
    #[error("{what}: timed out")]
    Timeout { what: String },
    #[error("{what}: connection failed: {message}")]
    Transport { what: String, message: String },
    #[error("listing {provider}: {detail}")]
    Walk { provider: String, detail: String },
}

impl EboxError {
    /// Whether a later attempt can succeed without anyone changing anything.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            EboxError::RateLimited { .. }
                | EboxError::Unavailable { .. }
                | EboxError::Timeout { .. }
                | EboxError::Transport { .. }
                | EboxError::WrongLength { .. }
                | EboxError::Unauthorized { .. }
        )
    }

    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            EboxError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn malformed(what: &str, detail: impl ToString) -> Self {
        EboxError::Malformed {
            what: what.to_owned(),
            detail: detail.to_string(),
        }
    }

    pub(crate) fn transport(what: &str, e: &reqwest::Error) -> Self {
        if e.is_timeout() {
            return EboxError::Timeout { what: what.to_owned() };
        }
        // reqwest's Display names the URL; the innermost cause never holds a header
        // (where the token travels).
        let message = std::iter::successors(std::error::Error::source(e), |s| s.source())
            .last()
            .map(|s| s.to_string())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| {
                if e.is_connect() {
                    "could not connect"
                } else {
                    "request failed"
                }
                .to_owned()
            });
        EboxError::Transport {
            what: what.to_owned(),
            message,
        }
    }
}
