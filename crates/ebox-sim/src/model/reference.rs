//! Reference data: the names behind the ids in messages.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Translated;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReferenceItem {
    pub id: String,
    pub name: Translated,
}

/// The names behind the ids used in messages.
#[derive(Debug, Clone, Default)]
pub struct ReferenceData {
    pub message_types: Vec<ReferenceItem>,
    pub sender_organizations: Vec<ReferenceItem>,
    pub sender_applications: Vec<ReferenceItem>,
}

impl ReferenceData {
    pub fn message_type_json(item: &ReferenceItem) -> Value {
        json!({
            "messageTypeId": item.id,
            "messageTypeName": item.name,
            "validityPeriod": {"validityPeriodNumber": 90, "validityPeriodUnit": "day"},
        })
    }

    pub fn sender_organization_json(item: &ReferenceItem) -> Value {
        json!({
            "organizationId": item.id,
            "organizationShortName": item.name,
            "organizationLongName": item.name,
        })
    }

    pub fn sender_application_json(item: &ReferenceItem) -> Value {
        json!({
            "applicationId": item.id,
            "applicationName": item.name,
        })
    }
}
