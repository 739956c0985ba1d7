//! `message.json`: the complete, normalised metadata of one delivered message, plus the
//! untouched e-Box JSON. Deterministic: the same message gives the same bytes.

use ebox::model::{ApiVersion, ListedMessage, Named, Translated};
use serde::Serialize;
use serde_json::{Value, json};

use crate::EntityId;

/// v2: v3 registries and partitions, every body (annexes too), optional dates and
/// names, attachments with ids of our own where e-Box gave none.
pub const MESSAGE_SCHEMA: &str = "digipost-ebox.message.v2";

/// One attachment as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredAttachment {
    pub attachment_id: String,
    /// e-Box gave no id; this one is derived from the attachment and stable across runs.
    pub attachment_id_assigned: bool,
    /// Exactly as the sender named it (the key holds a safe form of it).
    pub file_name: Option<String>,
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

/// The body as stored.
pub struct StoredBody<'a> {
    pub text: &'a Translated,
    pub key: &'a str,
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

fn named(n: &Named, looked_up: &Option<Translated>) -> Value {
    match &n.id {
        Some(id) => json!({"id": id, "name": n.name.as_ref().or(looked_up.as_ref())}),
        None => Value::Null,
    }
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
    let body_role = body.as_ref().map(|_| {
        if m.body_main_content.unwrap_or(m.attachments.is_empty()) {
            "main_content"
        } else {
            "annex"
        }
    });
    let value = json!({
        "schema": MESSAGE_SCHEMA,
        "entity_id": entity.as_str(),
        "provider_id": provider_id,
        "registry_version": version.as_str(),
        "message_id": m.message_id,
        "partition": m.partition,
        "received_at": m.receipt_date,
        "expires_at": m.expiration_date,
        "registered_mail": m.registered_mail,
        "retrieved_at": retrieval.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "read_before_retrieval": retrieval.read_before,
        "subject": m.subject,
        "body": body.as_ref().map(|b| b.text),
        "body_key": body.as_ref().map(|b| b.key),
        "body_role": body_role,
        "body_main_content": m.body_main_content,
        "sender": {
            "organization": named(&m.sender_organization, &names.sender_organization),
            "application": named(&m.sender_application, &names.sender_application),
        },
        "message_type": named(&m.message_type, &names.message_type),
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
