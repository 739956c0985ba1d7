//! The three kinds of reference data behind the ids in a message.

use serde::Deserialize;
use serde_json::Value;

use super::sent::{Sent, Translated, text, translated};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferenceKind {
    MessageType,
    SenderOrganization,
    SenderApplication,
}

/// One reference item, under the names any kind uses.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    #[serde(default, deserialize_with = "text")]
    message_type_id: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    organization_id: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    sender_organization_id: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    enterprise_number: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    application_id: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    sender_application_id: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    id: Sent<String>,
    #[serde(default, deserialize_with = "translated")]
    message_type_name: Sent<Translated>,
    #[serde(default, deserialize_with = "translated")]
    organization_short_name: Sent<Translated>,
    #[serde(default, deserialize_with = "translated")]
    organization_name: Sent<Translated>,
    #[serde(default, deserialize_with = "translated")]
    organization_long_name: Sent<Translated>,
    #[serde(default, deserialize_with = "translated")]
    application_name: Sent<Translated>,
    #[serde(default, deserialize_with = "translated")]
    name: Sent<Translated>,
}

impl ReferenceKind {
    /// The path segment under `referenceData` (or `refData`).
    pub fn path(self) -> &'static str {
        match self {
            ReferenceKind::MessageType => "messageTypes",
            ReferenceKind::SenderOrganization => "senderOrganizations",
            ReferenceKind::SenderApplication => "senderApplications",
        }
    }

    /// The id and name of one reference item.
    pub fn read_item(self, item: &Value) -> Option<(String, Translated)> {
        let i = Item::deserialize(item).ok()?;
        let (id, name) = match self {
            ReferenceKind::MessageType => (i.message_type_id, i.message_type_name.or(i.name)),
            ReferenceKind::SenderOrganization => (
                i.organization_id.or(i.sender_organization_id).or(i.enterprise_number),
                i.organization_short_name
                    .or(i.organization_name)
                    .or(i.name)
                    .or(i.organization_long_name),
            ),
            ReferenceKind::SenderApplication => (
                i.application_id.or(i.sender_application_id),
                i.application_name.or(i.name),
            ),
        };
        let id = id.or(i.id).into_value().filter(|id| !id.trim().is_empty())?;
        Some((id, name.into_value()?))
    }
}
