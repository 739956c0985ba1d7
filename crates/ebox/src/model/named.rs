//! A reference in a message: the sender's organisation or application, or the message
//! type, by id and perhaps by name.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sent::{Sent, Translated, as_text, text, translated};

/// The sender's organisation or application, or the message type: its id, and its name
/// when the message itself carries one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Named {
    #[serde(skip_serializing_if = "Sent::is_absent")]
    pub id: Sent<String>,
    #[serde(skip_serializing_if = "Sent::is_absent")]
    pub name: Sent<Translated>,
}

/// A reference given as an object, under any of the names its kind uses.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NamedEntry {
    #[serde(default, deserialize_with = "text")]
    id: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    organization_id: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    application_id: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    message_type_id: Sent<String>,
    #[serde(default, deserialize_with = "translated")]
    name: Sent<Translated>,
    #[serde(default, deserialize_with = "translated")]
    short_name: Sent<Translated>,
    #[serde(default, deserialize_with = "translated")]
    organization_short_name: Sent<Translated>,
    #[serde(default, deserialize_with = "translated")]
    application_name: Sent<Translated>,
    #[serde(default, deserialize_with = "translated")]
    message_type_name: Sent<Translated>,
}

impl Named {
    /// An id as a scalar, or an object holding id and name; `null` is said, not absent.
    pub fn read(v: Option<&Value>) -> Self {
        match v {
            None => Self::default(),
            Some(Value::Null) => Self {
                id: Sent::Null,
                name: Sent::Absent,
            },
            Some(v @ Value::Object(_)) => match NamedEntry::deserialize(v) {
                Ok(e) => Self {
                    id: e.id.or(e.organization_id).or(e.application_id).or(e.message_type_id),
                    name: e
                        .name
                        .or(e.short_name)
                        .or(e.organization_short_name)
                        .or(e.application_name)
                        .or(e.message_type_name),
                },
                Err(_) => Self::default(),
            },
            Some(v) => Self {
                id: as_text(v).map_or(Sent::Absent, Sent::Value),
                name: Sent::Absent,
            },
        }
    }

    pub(super) fn or(self, other: Named) -> Named {
        Named {
            id: self.id.or(other.id),
            name: self.name.or(other.name),
        }
    }

    /// The id to look a name up by: one that says something.
    pub fn lookup_id(&self) -> Option<&str> {
        self.id.value().map(String::as_str).filter(|id| !id.trim().is_empty())
    }
}
