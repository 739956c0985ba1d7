//! Enterprise numbers (KBO/BCE) identify entities.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A valid Belgian enterprise number, always 10 digits.
///
/// Rules: 10 digits, the first is 0 or 1, and the last two digits are
/// `97 - (first eight digits mod 97)`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EntityId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEntityId {
    #[error("entity id {0:?} is not 10 digits")]
    NotTenDigits(String),
    #[error("entity id {0:?} must start with 0 or 1")]
    BadFirstDigit(String),
    #[error("entity id {id:?} fails its check digits (expected {expected:02})")]
    BadCheckDigits { id: String, expected: u64 },
}

impl EntityId {
    /// Parses the canonical 10-digit form. Nothing else is accepted: an id that
    /// names the wrong entity must never slip through as a near miss.
    pub fn parse(input: &str) -> Result<Self, InvalidEntityId> {
        if input.len() != 10 || !input.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidEntityId::NotTenDigits(input.chars().take(40).collect()));
        }
        if !matches!(input.as_bytes()[0], b'0' | b'1') {
            return Err(InvalidEntityId::BadFirstDigit(input.to_owned()));
        }
        let base: u64 = input[..8].parse().expect("eight ascii digits");
        let check: u64 = input[8..].parse().expect("two ascii digits");
        let expected = 97 - base % 97;
        if check != expected {
            return Err(InvalidEntityId::BadCheckDigits {
                id: input.to_owned(),
                expected,
            });
        }
        Ok(Self(input.to_owned()))
    }

    /// Parses what a person types: dots and spaces are dropped (`0403.170.701`),
    /// and a 9-digit number gets its leading zero back, as sources often drop it.
    pub fn parse_lenient(input: &str) -> Result<Self, InvalidEntityId> {
        let digits: String = input.chars().filter(|c| !matches!(c, '.' | ' ')).collect();
        if digits.len() == 9 && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Self::parse(&format!("0{digits}"));
        }
        Self::parse(&digits)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntityId({})", self.0)
    }
}

impl FromStr for EntityId {
    type Err = InvalidEntityId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for EntityId {
    type Error = InvalidEntityId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<EntityId> for String {
    fn from(id: EntityId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_numbers() {
        // 0403.170.701 (a real, public enterprise number) and a made-up one.
        assert_eq!(EntityId::parse("0403170701").unwrap().as_str(), "0403170701");
        assert!(EntityId::parse("0123456749").is_ok());
        assert!(EntityId::parse("1000000021").is_ok());
    }

    #[test]
    fn refuses_bad_check_digits() {
        assert_eq!(
            EntityId::parse("0123456789"),
            Err(InvalidEntityId::BadCheckDigits {
                id: "0123456789".into(),
                expected: 49
            })
        );
    }

    #[test]
    fn refuses_wrong_shapes() {
        for bad in ["", "123", "01234567890", "012345674a", "../0123456", " 0123456749"] {
            assert!(
                matches!(EntityId::parse(bad), Err(InvalidEntityId::NotTenDigits(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            EntityId::parse("2000000087"),
            Err(InvalidEntityId::BadFirstDigit(_))
        ));
    }

    #[test]
    fn lenient_parse_drops_dots_and_pads() {
        assert_eq!(EntityId::parse_lenient("0403.170.701").unwrap().as_str(), "0403170701");
        assert_eq!(EntityId::parse_lenient("403170701").unwrap().as_str(), "0403170701");
        assert!(EntityId::parse_lenient("0403.170.702").is_err());
    }

    #[test]
    fn serde_refuses_invalid_ids() {
        assert!(serde_json::from_str::<EntityId>("\"0123456789\"").is_err());
        let id: EntityId = serde_json::from_str("\"0403170701\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"0403170701\"");
    }
}
