//! The consultation schemas of the Message Registry and the Provider Registry, tolerant
//! of fields they do not know. The raw JSON of every message is kept beside its parsed
//! form, so nothing e-Box sent is dropped.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Translated {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub de: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedMaintenance {
    pub start_date: DateTime<Utc>,
    pub end_date: DateTime<Utc>,
}

/// A Document Provider of the federation: one Message Registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageProvider {
    pub message_provider_id: String,
    pub message_provider_url: String,
    pub message_provider_activation_date: NaiveDate,
    #[serde(default)]
    pub message_provider_deactivation_date: Option<NaiveDate>,
    #[serde(default)]
    pub message_provider_planned_maintenance: Vec<PlannedMaintenance>,
    #[serde(default)]
    pub message_provider_name: Option<Translated>,
}

/// Whether a provider is to be read now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderState {
    Active,
    NotYetActive,
    Deactivated,
    /// Planned maintenance: skip this run, not an error.
    InMaintenance {
        until: DateTime<Utc>,
    },
}

impl MessageProvider {
    pub fn state(&self, now: DateTime<Utc>) -> ProviderState {
        let today = now.date_naive();
        if today < self.message_provider_activation_date {
            return ProviderState::NotYetActive;
        }
        if self.message_provider_deactivation_date.is_some_and(|d| today >= d) {
            return ProviderState::Deactivated;
        }
        match self
            .message_provider_planned_maintenance
            .iter()
            .find(|m| m.start_date <= now && now < m.end_date)
        {
            Some(m) => ProviderState::InMaintenance { until: m.end_date },
            None => ProviderState::Active,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    pub digest_method: String,
    pub digest_value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub attachment_id: String,
    pub file_name: String,
    pub media_type: String,
    /// In kB, as the sender declared it.
    pub size: f64,
    pub main_content: bool,
    #[serde(default)]
    pub digest: Option<Digest>,
    #[serde(default)]
    pub attachment_signed: bool,
    #[serde(default)]
    pub attachment_title: Option<Translated>,
    #[serde(default)]
    pub content_href: Option<String>,
}

impl Attachment {
    /// The SHA-256 e-Box announces, when it announces one we understand.
    pub fn expected_sha256(&self) -> Option<[u8; 32]> {
        use base64::Engine;
        let d = self
            .digest
            .as_ref()
            .filter(|d| d.digest_method.eq_ignore_ascii_case("sha_256"))?;
        let value = d.digest_value.trim_end_matches('=');
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(value)
            .ok()?
            .try_into()
            .ok()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachments {
    #[serde(default)]
    pub items: Vec<Attachment>,
    #[serde(default, rename = "totalItems")]
    pub total_items: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub message_id: String,
    pub subject: Translated,
    pub receipt_date: DateTime<Utc>,
    pub expiration_date: DateTime<Utc>,
    #[serde(default)]
    pub read_status: bool,
    #[serde(default = "yes")]
    pub visible: bool,
    #[serde(default)]
    pub registered_mail: bool,
    pub message_type_id: String,
    pub sender_organization_id: String,
    #[serde(default)]
    pub sender_application_id: Option<String>,
    #[serde(default)]
    pub for_the_attention_of: Option<Value>,
    #[serde(default)]
    pub body_main_content: bool,
    #[serde(default)]
    pub attachments: Option<Attachments>,
    #[serde(default)]
    pub payment_data: Option<Value>,
    #[serde(default)]
    pub business_data_list: Option<Value>,
    #[serde(default)]
    pub reply_authorized: bool,
}

fn yes() -> bool {
    true
}

impl Message {
    pub fn attachments(&self) -> &[Attachment] {
        self.attachments
            .as_ref()
            .map(|a| a.items.as_slice())
            .unwrap_or_default()
    }
}

/// A message as listed: parsed, and exactly as e-Box sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedMessage {
    pub message: Message,
    pub raw: Value,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    #[serde(default)]
    pub items: Vec<Value>,
    #[serde(rename = "totalItems")]
    pub total_items: Option<u64>,
}

/// The names behind the ids in messages, from one registry's reference data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferenceNames {
    pub message_types: std::collections::HashMap<String, Translated>,
    pub sender_organizations: std::collections::HashMap<String, Translated>,
    pub sender_applications: std::collections::HashMap<String, Translated>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(json: Value) -> MessageProvider {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn provider_states_follow_dates_and_maintenance() {
        let now: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().unwrap();
        let p = provider(serde_json::json!({
            "messageProviderId": "p", "messageProviderUrl": "https://x/",
            "messageProviderActivationDate": "2018-01-01",
            "messageProviderPlannedMaintenance": [{"startDate": "2026-11-28T08:00:00Z", "endDate": "2026-11-28T12:00:00Z"}],
            "somethingNew": 1
        }));
        assert_eq!(
            p.state(now),
            ProviderState::InMaintenance {
                until: "2026-11-28T12:00:00Z".parse().unwrap()
            }
        );
        assert_eq!(p.state("2026-11-28T12:00:00Z".parse().unwrap()), ProviderState::Active);
        let later = provider(
            serde_json::json!({"messageProviderId": "p", "messageProviderUrl": "u", "messageProviderActivationDate": "2026-11-29"}),
        );
        assert_eq!(later.state(now), ProviderState::NotYetActive);
        let gone = provider(serde_json::json!({"messageProviderId": "p", "messageProviderUrl": "u",
            "messageProviderActivationDate": "2017-01-01", "messageProviderDeactivationDate": "2026-11-28"}));
        assert_eq!(gone.state(now), ProviderState::Deactivated);
    }

    #[test]
    fn digest_is_base64url_sha256() {
        let a: Attachment = serde_json::from_value(serde_json::json!({
            "attachmentId": "a", "fileName": "f.pdf", "mediaType": "application/pdf", "size": 1.5, "mainContent": true,
            "digest": {"digestMethod": "sha_256", "digestValue": "LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564"}
        }))
        .unwrap();
        let expected: [u8; 32] = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(b"foo")).into();
        assert_eq!(a.expected_sha256(), Some(expected));
    }
}
