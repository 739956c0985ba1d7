//! The three kinds of reference data behind the ids in a message.

use serde::Deserialize;
use serde_json::Value;

use super::sent::{Sent, Translated, wire};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferenceKind {
    MessageType,
    SenderOrganization,
    SenderApplication,
}

wire! {
    /// One reference item, under the names any kind uses.
    struct Item {
        message_type_id: Sent<String>,
        organization_id: Sent<String>,
        sender_organization_id: Sent<String>,
        enterprise_number: Sent<String>,
        application_id: Sent<String>,
        sender_application_id: Sent<String>,
        id: Sent<String>,
        message_type_name: Sent<Translated>,
        organization_short_name: Sent<Translated>,
        organization_name: Sent<Translated>,
        organization_long_name: Sent<Translated>,
        application_name: Sent<Translated>,
        name: Sent<Translated>,
    }
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
