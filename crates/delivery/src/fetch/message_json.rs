//! `message.json`: the complete, normalised metadata of one delivered message, plus the
//! untouched e-Box JSON. Deterministic: the same message gives the same bytes.

use ebox::model::{ListedMessage, ReferenceNames, Translated};
use serde::Serialize;
use serde_json::{Value, json};

use crate::EntityId;

pub const MESSAGE_SCHEMA: &str = "digipost-ebox.message.v1";

/// One attachment as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredAttachment {
    pub attachment_id: String,
    /// As the sender named it.
    pub file_name: String,
    pub key: String,
    pub media_type: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub main_content: bool,
    /// Whether e-Box gave a digest that the content was checked against.
    pub digest_verified: bool,
}

fn named(id: Option<&str>, names: &std::collections::HashMap<String, Translated>) -> Value {
    match id {
        Some(id) => json!({"id": id, "name": names.get(id)}),
        None => Value::Null,
    }
}

pub fn build(
    entity: &EntityId,
    provider_id: &str,
    listed: &ListedMessage,
    names: &ReferenceNames,
    body: Option<(&Translated, &str)>,
    attachments: &[StoredAttachment],
) -> Vec<u8> {
    let m = &listed.message;
    let value = json!({
        "schema": MESSAGE_SCHEMA,
        "entity_id": entity.as_str(),
        "provider_id": provider_id,
        "message_id": m.message_id,
        "received_at": m.receipt_date,
        "expires_at": m.expiration_date,
        "registered_mail": m.registered_mail,
        "subject": m.subject,
        "body": body.map(|(b, _)| b),
        "body_key": body.map(|(_, k)| k),
        "body_main_content": m.body_main_content,
        "sender": {
            "organization": named(Some(&m.sender_organization_id), &names.sender_organizations),
            "application": named(m.sender_application_id.as_deref(), &names.sender_applications),
        },
        "message_type": named(Some(&m.message_type_id), &names.message_types),
        "for_the_attention_of": m.for_the_attention_of,
        "payment_data": m.payment_data,
        "business_data": m.business_data_list,
        "reply_authorized": m.reply_authorized,
        "attachments": attachments,
        "ebox": listed.raw,
    });
    let mut bytes = serde_json::to_vec_pretty(&value).expect("JSON values serialise");
    bytes.push(b'\n');
    bytes
}
