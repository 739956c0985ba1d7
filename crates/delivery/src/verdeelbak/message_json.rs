//! `message.json`: the complete, normalised metadata of one delivered message, plus the
//! untouched e-Box JSON. Deterministic: the same message gives the same bytes.

use ebox::model::{ApiVersion, ListedMessage, Named, Sent, Translated};
use serde::Serialize;
use serde_json::Value;

use crate::EntityId;

/// v3: every field copied from e-Box keeps absent, `null` and empty apart (a field e-Box
/// left out is left out here too); `visible`; the v3 sender's e-Box type; the body's
/// source (inline or its own call); `for_the_attention_of` in one shape for v2 and v3.
pub const MESSAGE_SCHEMA: &str = "digipost-ebox.message.v3";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredAttachment {
    pub attachment_id: String,
    /// e-Box gave no id; this one is derived from the attachment and stable across runs.
    pub attachment_id_assigned: bool,
    /// Byte for byte as the sender named it, `""` and `null` included; left out when
    /// e-Box left it out (the key holds a safe form of it).
    #[serde(skip_serializing_if = "Sent::is_absent")]
    pub file_name: Sent<String>,
    pub key: String,
    pub media_type: Option<String>,
    pub size_bytes: u64,
    /// What the sender declared, in kB; informational.
    pub declared_size_kb: Option<f64>,
    pub sha256: String,
    pub main_content: bool,
    /// Whether e-Box gave a digest that the content was checked against.
    pub digest_verified: bool,
}

/// Where the stored body came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BodySource {
    /// Inside the listed message (`bodyContent`).
    Inline,
    /// Its own call (`GET .../body`).
    BodyCall,
}

pub struct StoredBody<'a> {
    pub text: &'a Translated,
    pub key: &'a str,
    pub source: BodySource,
}

/// What was stored of the message, and when its content was retrieved.
pub struct Stored<'a> {
    pub body: Option<StoredBody<'a>>,
    pub attachments: &'a [StoredAttachment],
    pub retrieval: &'a Retrieval,
}

/// When the message's main content was first retrieved (e-Box marks it read then), and
/// whether e-Box listed it as read already before that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retrieval {
    pub at: chrono::DateTime<chrono::Utc>,
    pub read_before: bool,
}

/// The names reference data gave for the message's ids (None: unknown or unavailable).
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub message_type: Option<Translated>,
    pub sender_organization: Option<Translated>,
    pub sender_application: Option<Translated>,
}

/// A reference: its id as sent, and its name as the message sent it, else as looked up.
#[derive(Serialize)]
struct NamedJson<'a> {
    #[serde(skip_serializing_if = "Sent::is_absent")]
    id: Sent<&'a String>,
    name: Sent<&'a Translated>,
}

fn named<'a>(n: &'a Named, looked_up: &'a Option<Translated>) -> Option<NamedJson<'a>> {
    if n.id.is_absent() && n.name.is_absent() {
        return None;
    }
    let name = match n.name.as_ref() {
        Sent::Absent => looked_up.as_ref().into(),
        said => said,
    };
    Some(NamedJson {
        id: n.id.as_ref(),
        name,
    })
}

#[derive(Serialize)]
struct SenderJson<'a> {
    organization: Option<NamedJson<'a>>,
    application: Option<NamedJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ebox_type: Option<&'a str>,
}

/// `message.json` as written. Fields copied from e-Box that it left out are left out.
#[derive(Serialize)]
struct MessageJson<'a> {
    schema: &'static str,
    entity_id: &'a str,
    provider_id: &'a str,
    registry_version: &'static str,
    message_id: &'a str,
    partition: Option<&'a str>,
    received_at: Option<chrono::DateTime<chrono::Utc>>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    registered_mail: bool,
    visible: Option<bool>,
    retrieved_at: String,
    read_before_retrieval: bool,
    #[serde(skip_serializing_if = "Sent::is_absent")]
    subject: &'a Sent<Translated>,
    body: Option<&'a Translated>,
    body_key: Option<&'a str>,
    body_role: Option<&'static str>,
    body_source: Option<BodySource>,
    body_main_content: Option<bool>,
    sender: SenderJson<'a>,
    message_type: Option<NamedJson<'a>>,
    #[serde(skip_serializing_if = "Sent::is_absent")]
    for_the_attention_of: &'a Sent<Value>,
    #[serde(skip_serializing_if = "Sent::is_absent")]
    payment_data: &'a Sent<Value>,
    #[serde(skip_serializing_if = "Sent::is_absent")]
    business_data: &'a Sent<Value>,
    reply_authorized: bool,
    attachments: &'a [StoredAttachment],
    ebox: &'a serde_json::value::RawValue,
}

pub fn build(
    entity: &EntityId,
    provider_id: &str,
    version: ApiVersion,
    listed: &ListedMessage,
    names: &Names,
    stored: Stored<'_>,
) -> Vec<u8> {
    let Stored {
        body,
        attachments,
        retrieval,
    } = stored;
    let m = &listed.message;
    // A body is the main content when e-Box says so, or when it is all there is.
    let main_content = m.body_main_content.unwrap_or(m.attachments.is_empty());
    let body_role = body
        .as_ref()
        .map(|_| if main_content { "main_content" } else { "annex" });
    let json = MessageJson {
        schema: MESSAGE_SCHEMA,
        entity_id: entity.as_str(),
        provider_id,
        registry_version: version.as_str(),
        message_id: &m.message_id,
        partition: m.partition.as_deref(),
        received_at: m.receipt_date,
        expires_at: m.expiration_date,
        registered_mail: m.registered_mail,
        visible: m.visible,
        retrieved_at: retrieval.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        read_before_retrieval: retrieval.read_before,
        subject: &m.subject,
        body: body.as_ref().map(|b| b.text),
        body_key: body.as_ref().map(|b| b.key),
        body_role,
        body_source: body.as_ref().map(|b| b.source),
        body_main_content: m.body_main_content,
        sender: SenderJson {
            organization: named(&m.sender_organization, &names.sender_organization),
            application: named(&m.sender_application, &names.sender_application),
            ebox_type: m.sender_ebox_type.as_deref(),
        },
        message_type: named(&m.message_type, &names.message_type),
        for_the_attention_of: &m.for_the_attention_of,
        payment_data: &m.payment_data,
        business_data: &m.business_data_list,
        reply_authorized: m.reply_authorized,
        attachments,
        ebox: &listed.raw,
    };
    let mut bytes = serde_json::to_vec_pretty(&json).expect("message.json serialises");
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ebox_json_is_written_byte_for_byte_as_listed() {
        // e-Box's own key order, a number's own spelling, an escape left as sent.
        let text = r#"{"messageId":"m1","zeta":1.50,"alpha":"caf\u00e9","receiptDate":"2026-03-02T09:00:00Z"}"#;
        let raw = serde_json::value::RawValue::from_string(text.to_owned()).unwrap();
        let ebox::model::Listed::Message(listed) = ebox::model::Listed::read(raw) else {
            panic!("a readable message");
        };
        let entity = EntityId::parse("0403170701").unwrap();
        let retrieval = Retrieval {
            at: "2026-03-02T09:00:00Z".parse().unwrap(),
            read_before: false,
        };
        let stored = Stored {
            body: None,
            attachments: &[],
            retrieval: &retrieval,
        };
        let json = build(&entity, "p", ApiVersion::V2, &listed, &Names::default(), stored);
        let json = String::from_utf8(json).unwrap();
        assert!(json.contains(&format!("\"ebox\": {text}")), "{json}");
        let parsed: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["ebox"]["alpha"], "café");
    }
}
