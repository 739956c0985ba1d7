//! The connection secret's format (JSON in Secrets Manager): read, written, staged and
//! promoted here only; fetch, the CLI and the connections API call it.
//!
//! - a connection's own secret: `{"client_id": "...", "private_key_pem": "...", "certificate_pem": "..."}`
//! - or, to share DigiPost's certificate: `{"client_id": "...", "certificate_secret_id": "<secret>"}`
//! - a shared certificate secret: `{"private_key_pem": "...", "certificate_pem": "..."}`
//!
//! During a certificate rotation a secret with key material may also hold the next pair
//! (`next_private_key_pem`, `next_certificate_pem`). Unknown fields are kept as they are.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A connection secret. Never logged, never in an error: errors name it by id only.
#[derive(Default, Serialize, Deserialize)]
pub struct ConnectionSecret {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_secret_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_private_key_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_certificate_pem: Option<String>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

impl std::fmt::Debug for ConnectionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectionSecret(..)")
    }
}

/// Why a secret could not be read, or a rotation step not made. Names the secret by id.
#[derive(Debug, thiserror::Error)]
pub enum SecretFormatError {
    #[error("secret {id:?} is not valid JSON of the documented form ({detail})")]
    Malformed { id: String, detail: String },
    #[error("secret {id} holds no key material (it points at another secret): stage the next pair there")]
    NoKeyMaterial { id: String },
    #[error("this certificate is already the current one of {id}")]
    AlreadyCurrent { id: String },
    #[error("secret {id} holds no next pair: `certificate stage` one first")]
    NoNextPair { id: String },
}

impl ConnectionSecret {
    pub fn with_key_material(client_id: &str, private_key_pem: &str, certificate_pem: &str) -> Self {
        Self {
            client_id: Some(client_id.to_owned()),
            private_key_pem: Some(private_key_pem.to_owned()),
            certificate_pem: Some(certificate_pem.to_owned()),
            ..Self::default()
        }
    }

    /// The secret `id` holds. serde's message can quote input: only its position is kept.
    pub fn decode(id: &str, stored: &str) -> Result<Self, SecretFormatError> {
        serde_json::from_str(stored).map_err(|e| SecretFormatError::Malformed {
            id: id.to_owned(),
            detail: format!("line {} column {}", e.line(), e.column()),
        })
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a connection secret serialises")
    }

    /// Adds the next pair of a rotation: refused where the secret holds no key material
    /// (it points at another secret) or the certificate is the current one already.
    pub fn stage(&mut self, id: &str, private_key_pem: &str, certificate_pem: &str) -> Result<(), SecretFormatError> {
        if self.private_key_pem.is_none() {
            return Err(SecretFormatError::NoKeyMaterial { id: id.to_owned() });
        }
        if self.certificate_pem.as_deref() == Some(certificate_pem) {
            return Err(SecretFormatError::AlreadyCurrent { id: id.to_owned() });
        }
        self.next_private_key_pem = Some(private_key_pem.to_owned());
        self.next_certificate_pem = Some(certificate_pem.to_owned());
        Ok(())
    }

    /// The next pair becomes the current one (see [`crate::rotation`] for when).
    pub fn promote(&mut self, id: &str) -> Result<(), SecretFormatError> {
        let (Some(key), Some(cert)) = (self.next_private_key_pem.take(), self.next_certificate_pem.take()) else {
            return Err(SecretFormatError::NoNextPair { id: id.to_owned() });
        };
        self.private_key_pem = Some(key);
        self.certificate_pem = Some(cert);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_staged_then_promoted_keeps_everything_else() {
        let stored = r#"{"client_id": "c", "private_key_pem": "k1", "certificate_pem": "c1", "note": 7}"#;
        let mut s = ConnectionSecret::decode("s", stored).unwrap();
        assert!(matches!(
            s.stage("s", "k2", "c1"),
            Err(SecretFormatError::AlreadyCurrent { .. })
        ));
        assert!(matches!(s.promote("s"), Err(SecretFormatError::NoNextPair { .. })));
        s.stage("s", "k2", "c2").unwrap();
        s.promote("s").unwrap();
        let out: Value = serde_json::from_str(&s.encode()).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"client_id": "c", "private_key_pem": "k2", "certificate_pem": "c2", "note": 7})
        );
        let mut pointer = ConnectionSecret::decode("p", r#"{"client_id": "c", "certificate_secret_id": "s"}"#).unwrap();
        assert!(matches!(
            pointer.stage("p", "k", "c"),
            Err(SecretFormatError::NoKeyMaterial { .. })
        ));
        let bad = ConnectionSecret::decode("b", r#"{"private_key_pem": "-----BEGIN"#).unwrap_err();
        assert!(!bad.to_string().contains("BEGIN"), "{bad}");
        assert_eq!(format!("{s:?}"), "ConnectionSecret(..)");
    }
}
