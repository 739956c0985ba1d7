//! The key material of a connection: DigiPost's private key and the certificate the
//! entity registered with its "DocConsumer e-Box Enterprise" account.

use std::fmt;

use chrono::{DateTime, Utc};
use jsonwebtoken::EncodingKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::Digest;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the private key is not a PEM RSA key (PKCS#8 or PKCS#1): {0}")]
    PrivateKey(String),
    #[error("the certificate is not a PEM X.509 certificate: {0}")]
    Certificate(String),
    #[error("the private key does not belong to the certificate (its public key differs)")]
    Mismatch,
}

/// A private key with its certificate, checked to belong together when loaded.
/// Its `Debug` names the certificate, never the key.
#[derive(Clone)]
pub struct KeyMaterial {
    signing_key: EncodingKey,
    certificate: CertificateInfo,
}

/// What monitoring needs of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    pub subject: String,
    pub not_after: DateTime<Utc>,
    /// Hex SHA-256 of the DER certificate, as the e-Box portal shows it.
    pub sha256_thumbprint: String,
}

impl CertificateInfo {
    pub fn days_until_expiry(&self, now: DateTime<Utc>) -> i64 {
        (self.not_after - now).num_days()
    }
}

impl KeyMaterial {
    pub fn from_pem(private_key_pem: &str, certificate_pem: &str) -> Result<Self, KeyError> {
        let key = PrivateKeyDer::from_pem_slice(private_key_pem.as_bytes())
            .map_err(|e| KeyError::PrivateKey(describe_pem_error(&e)))?;
        let public_key = rsa_public_key(&key)?;
        let cert = CertificateDer::from_pem_slice(certificate_pem.as_bytes())
            .map_err(|e| KeyError::Certificate(describe_pem_error(&e)))?;
        let (_, parsed) =
            x509_parser::parse_x509_certificate(&cert).map_err(|e| KeyError::Certificate(e.to_string()))?;
        if parsed.public_key().subject_public_key.data.as_ref() != public_key.as_slice() {
            return Err(KeyError::Mismatch);
        }
        let certificate = CertificateInfo {
            subject: parsed.subject().to_string(),
            not_after: DateTime::from_timestamp(parsed.validity().not_after.timestamp(), 0).unwrap_or_default(),
            sha256_thumbprint: hex::encode(sha2::Sha256::digest(cert.as_ref())),
        };
        let signing_key = EncodingKey::from_rsa_pem(private_key_pem.as_bytes())
            .map_err(|e| KeyError::PrivateKey(format!("{:?}", e.kind())))?;
        Ok(Self {
            signing_key,
            certificate,
        })
    }

    pub fn certificate(&self) -> &CertificateInfo {
        &self.certificate
    }

    pub(crate) fn signing_key(&self) -> &EncodingKey {
        &self.signing_key
    }
}

/// The PKCS#1 RSAPublicKey of a private key, to compare with the certificate's.
fn rsa_public_key(key: &PrivateKeyDer<'_>) -> Result<Vec<u8>, KeyError> {
    use aws_lc_rs::signature::{KeyPair, RsaKeyPair};
    let pair = match key {
        PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
        PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
        _ => return Err(KeyError::PrivateKey("not an RSA key".into())),
    }
    .map_err(|e| KeyError::PrivateKey(format!("not a usable RSA key ({e})")))?;
    Ok(pair.public_key().as_ref().to_vec())
}

/// PEM errors describe the input, never quote it.
fn describe_pem_error(e: &rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error;
    match e {
        Error::NoItemsFound => "no PEM section of the right kind".into(),
        Error::MissingSectionEnd { .. } => "a PEM section does not end".into(),
        Error::IllegalSectionStart { .. } => "a PEM section starts wrongly".into(),
        Error::Base64Decode(_) => "the PEM body is not base64".into(),
        _ => "unreadable PEM".into(),
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("private_key", &"[redacted]")
            .field("certificate", &self.certificate)
            .finish()
    }
}

/// What a token request needs: the ClientID and the key material.
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    pub client_id: String,
    pub key: std::sync::Arc<KeyMaterial>,
}
