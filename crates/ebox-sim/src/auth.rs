//! OAuth 2.0 client credentials with private_key_jwt, checked the way e-Box checks it.

use std::collections::{BTreeSet, HashMap};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client registered with its certificate, as a "DocConsumer e-Box Enterprise"
/// REST account is.
#[derive(Clone)]
pub struct Client {
    pub client_id: String,
    pub enterprise: String,
    pub key: DecodingKey,
    pub certificate_not_after: DateTime<Utc>,
    pub scopes: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("certificate is not PEM: {0}")]
    Pem(String),
    #[error("certificate is not X.509: {0}")]
    X509(String),
    #[error("certificate does not hold an RSA key: {0}")]
    Key(String),
}

/// Reads the certificate an enterprise uploaded and keeps its RSA public key.
pub fn client_from_certificate(
    client_id: &str,
    enterprise: &str,
    certificate_pem: &str,
    scopes: BTreeSet<String>,
) -> Result<Client, CertificateError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(certificate_pem.as_bytes())
        .map_err(|e| CertificateError::Pem(e.to_string()))?;
    let cert = pem.parse_x509().map_err(|e| CertificateError::X509(e.to_string()))?;
    let spki = cert.public_key();
    // For RSA, the subject public key bit string is the PKCS#1 RSAPublicKey.
    if spki.algorithm.algorithm != x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION {
        return Err(CertificateError::Key(format!("algorithm {}", spki.algorithm.algorithm)));
    }
    let key = DecodingKey::from_rsa_der(&spki.subject_public_key.data);
    let not_after = DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0).unwrap_or_default();
    Ok(Client {
        client_id: client_id.to_owned(),
        enterprise: enterprise.to_owned(),
        key,
        certificate_not_after: not_after,
        scopes,
    })
}

/// An RFC 6749 section 5.2 error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
}

fn refuse(error: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError {
        error,
        description: description.into(),
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    jti: Option<String>,
    iat: Option<i64>,
    exp: i64,
}

#[derive(Debug, Deserialize)]
struct UnverifiedClaims {
    iss: Option<String>,
}

/// A token request that passed every check.
pub struct Granted {
    pub client_id: String,
    pub enterprise: String,
    pub scopes: BTreeSet<String>,
}

pub struct TokenRequestCheck<'a> {
    pub clients: &'a HashMap<String, Client>,
    pub seen_jti: &'a mut HashMap<String, DateTime<Utc>>,
    pub audience: &'a str,
    pub now: DateTime<Utc>,
    pub max_lifetime: Duration,
}

/// The form fields every token request needs; returns the client assertion.
fn assertion_of(form: &HashMap<String, String>) -> Result<&str, OAuthError> {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    match field("grant_type") {
        "client_credentials" => {}
        "" => return Err(refuse("invalid_request", "grant_type is missing")),
        other => {
            return Err(refuse(
                "unsupported_grant_type",
                format!("grant_type {other:?} is not supported"),
            ));
        }
    }
    if field("client_assertion_type") != ASSERTION_TYPE {
        return Err(refuse(
            "invalid_request",
            "client_assertion_type must be the jwt-bearer type",
        ));
    }
    let assertion = field("client_assertion");
    if assertion.is_empty() {
        return Err(refuse("invalid_request", "client_assertion is missing"));
    }
    Ok(assertion)
}

/// The signature, audience, issuer and subject of an assertion, checked with the
/// client's registered key.
fn verified_claims(client: &Client, assertion: &str, audience: &str) -> Result<Claims, OAuthError> {
    let header =
        jsonwebtoken::decode_header(assertion).map_err(|_| refuse("invalid_client", "malformed JWT header"))?;
    if header.alg != Algorithm::RS256 {
        return Err(refuse("invalid_client", "client assertions must be signed RS256"));
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[&client.client_id]);
    validation.sub = Some(client.client_id.clone());
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.leeway = 30;
    // Expiry is checked against the simulator's clock, not the machine's.
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Claims>(assertion, &client.key, &validation)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            let why = match e.kind() {
                ErrorKind::InvalidSignature => "signature does not verify with the registered certificate",
                ErrorKind::InvalidAudience => "aud is not this token endpoint",
                ErrorKind::InvalidIssuer => "iss is not the client id",
                ErrorKind::InvalidSubject => "sub is not the client id",
                ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
                _ => "client assertion is invalid",
            };
            refuse("invalid_client", why)
        })?
        .claims;
    debug_assert_eq!(claims.iss, claims.sub);
    Ok(claims)
}

/// The scopes asked for (every granted one when none is named), all granted.
fn requested_scopes(form: &HashMap<String, String>, client: &Client) -> Result<BTreeSet<String>, OAuthError> {
    let requested: BTreeSet<String> = match form.get("scope") {
        Some(s) if !s.trim().is_empty() => s.split_whitespace().map(str::to_owned).collect(),
        _ => client.scopes.clone(),
    };
    if let Some(missing) = requested.iter().find(|s| !client.scopes.contains(*s)) {
        return Err(refuse(
            "invalid_scope",
            format!("scope {missing} is not granted to this client"),
        ));
    }
    Ok(requested)
}

impl TokenRequestCheck<'_> {
    pub fn check(&mut self, form: &HashMap<String, String>) -> Result<Granted, OAuthError> {
        let assertion = assertion_of(form)?;
        // Find the client by the (not yet trusted) issuer, then verify with its key.
        let issuer =
            unverified_issuer(assertion).ok_or_else(|| refuse("invalid_client", "client_assertion is not a JWT"))?;
        let clients = self.clients;
        let client = clients
            .get(&issuer)
            .ok_or_else(|| refuse("invalid_client", "unknown client"))?;
        if let Some(id) = form.get("client_id")
            && id != &client.client_id
        {
            return Err(refuse("invalid_client", "client_id does not match the assertion"));
        }
        let claims = verified_claims(client, assertion, self.audience)?;
        let jti = self.fresh_jti(&claims)?;
        if client.certificate_not_after < self.now {
            return Err(refuse("invalid_client", "the registered certificate has expired"));
        }
        let requested = requested_scopes(form, client)?;
        self.seen_jti
            .insert(jti, DateTime::from_timestamp(claims.exp + 60, 0).unwrap_or(self.now));
        Ok(Granted {
            client_id: client.client_id.clone(),
            enterprise: client.enterprise.clone(),
            scopes: requested,
        })
    }

    /// The assertion's lifetime against the simulator's clock, and its `jti`, which must
    /// be there and not used before.
    fn fresh_jti(&mut self, claims: &Claims) -> Result<String, OAuthError> {
        let now = self.now.timestamp();
        if claims.exp + 30 < now {
            return Err(refuse("invalid_client", "client assertion has expired"));
        }
        let issued = claims.iat.unwrap_or(now);
        if claims.exp - issued > self.max_lifetime.num_seconds() || claims.exp - now > self.max_lifetime.num_seconds() {
            return Err(refuse("invalid_client", "client assertion lives too long"));
        }
        let jti = claims
            .jti
            .clone()
            .filter(|j| !j.is_empty())
            .ok_or_else(|| refuse("invalid_client", "jti is missing"))?;
        self.seen_jti.retain(|_, until| *until > self.now);
        if self.seen_jti.contains_key(&jti) {
            return Err(refuse(
                "invalid_client",
                "client assertion was already used (jti replayed)",
            ));
        }
        Ok(jti)
    }
}

fn unverified_issuer(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<UnverifiedClaims>(&bytes).ok()?.iss
}
