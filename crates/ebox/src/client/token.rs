//! Access tokens: a private_key_jwt client assertion signed with DigiPost's key, and a
//! cache per client and scope set.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::time::Instant;

use super::Session;
use super::http::{retry_after, status_error};
use crate::credentials::KeyError;
use crate::error::EboxError;

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An access token. Its `Debug` shows nothing of it.
#[derive(Clone, Debug)]
pub struct AccessToken(SecretString);

impl AccessToken {
    /// The token itself, for an Authorization header and nothing else.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct OAuthErrorAnswer {
    error: String,
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

impl Session {
    /// Tokens differ by the client, the key that signed for them (during a certificate
    /// rotation one client is tried with two) and the scopes they were asked for.
    fn token_key(&self) -> String {
        format!(
            "{}\n{}\n{}",
            self.credentials.client_id,
            self.credentials.key.certificate().sha256_thumbprint,
            self.scopes.join(" ")
        )
    }

    /// A valid access token: the cached one, or a new one.
    pub async fn access_token(&self) -> Result<AccessToken, EboxError> {
        let key = self.token_key();
        if let Some((token, renew_at)) = self.ebox.inner.tokens.lock().unwrap().get(&key)
            && Instant::now() < *renew_at
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = self.with_retries("token request", || self.request_token()).await?;
        let margin = self.config().token_margin.min(lifetime / 2);
        let renew_at = Instant::now() + lifetime - margin;
        self.ebox
            .inner
            .tokens
            .lock()
            .unwrap()
            .insert(key, (token.clone(), renew_at));
        Ok(token)
    }

    pub(super) fn forget_token(&self) {
        self.ebox.inner.tokens.lock().unwrap().remove(&self.token_key());
    }

    /// A fresh client assertion (private_key_jwt), signed with the session's key.
    pub fn client_assertion(&self) -> Result<String, EboxError> {
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
        jsonwebtoken::encode(&header, &claims, self.credentials.key.signing_key())
            .map_err(|e| EboxError::Key(KeyError::PrivateKey(format!("cannot sign: {:?}", e.kind()))))
    }

    async fn request_token(&self) -> Result<(AccessToken, Duration), EboxError> {
        const WHAT: &str = "token request";
        let assertion = self.client_assertion()?;
        let scope = self.scopes.join(" ");
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
        ];
        // Naming no scope gets every scope the client was granted.
        if !scope.is_empty() {
            form.push(("scope", scope.as_str()));
        }
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
            let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| EboxError::malformed(WHAT, e))?;
            let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(300).max(1));
            return Ok((AccessToken(SecretString::from(answer.access_token)), lifetime));
        }
        Err(refusal(status, &body, scope).unwrap_or_else(|| status_error(WHAT, status, retry_after, &body)))
    }
}

/// The token endpoint's no to these credentials: an OAuth error answer (RFC 6749 5.2), or
/// a 400, 401 or 403 without one (a gateway's page, an empty answer); None for anything
/// else (throttling, faults).
fn refusal(status: StatusCode, body: &[u8], scope: String) -> Option<EboxError> {
    if let Ok(refusal) = serde_json::from_slice::<OAuthErrorAnswer>(body)
        && status.is_client_error()
        && status != StatusCode::TOO_MANY_REQUESTS
    {
        let description = refusal.error_description.unwrap_or_default();
        if refusal.error == "invalid_scope" {
            return Some(EboxError::ScopeRefused {
                requested: if scope.is_empty() { "(none)".into() } else { scope },
                description,
            });
        }
        return Some(EboxError::TokenRefused {
            status: status.as_u16(),
            code: refusal.error,
            description,
        });
    }
    matches!(
        status,
        StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    )
    .then(|| EboxError::TokenRefused {
        status: status.as_u16(),
        code: "(no OAuth error code)".into(),
        description: "the answer carried no OAuth error body".into(),
    })
}
