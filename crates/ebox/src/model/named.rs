//! A reference in a message: the sender's organisation or application, or the message
//! type, by id and perhaps by name.

use serde::Serialize;
use serde_json::Value;

use super::sent::{Field, Sent, Translated, pick};

/// The sender's organisation or application, or the message type: its id, and its name
/// when the message itself carries one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Named {
    #[serde(skip_serializing_if = "Sent::is_absent")]
    pub id: Sent<String>,
    #[serde(skip_serializing_if = "Sent::is_absent")]
    pub name: Sent<Translated>,
}

impl Named {
    /// An id as a scalar, or an object holding id and name; `null` is said, not absent.
    pub fn read(v: Option<&Value>) -> Self {
        match v {
            None => Self::default(),
            // An object, under any of the names its kind uses.
            Some(Value::Object(o)) => Self {
                id: pick(o, &["id", "organizationId", "applicationId", "messageTypeId"]),
                name: pick(
                    o,
                    &[
                        "name",
                        "shortName",
                        "organizationShortName",
                        "applicationName",
                        "messageTypeName",
                    ],
                ),
            },
            Some(v) => Self {
                id: Field::read(v),
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
