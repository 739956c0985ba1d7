//! A message as listed, v2 or v3, read into one normalised form. Only the message id is
//! required; a field of the wrong type counts as left out (the raw JSON keeps it), and
//! every field that `message.json` copies keeps absent, `null` and empty apart.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::attachment::{Attachment, read_attachments};
use super::named::Named;
use super::sent::{Sent, Translated, as_text, flag, instant, text, translated};

/// A message as sent, under its v2 and v3 names. Each name is a field of its own rather
/// than an alias: a message carrying both must still be read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(default, deserialize_with = "text")]
    message_id: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    id: Sent<String>,
    #[serde(default, deserialize_with = "translated")]
    subject: Sent<Translated>,
    #[serde(default, deserialize_with = "instant")]
    receipt_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "instant")]
    received_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "instant")]
    publication_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "instant")]
    expiration_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "instant")]
    expiry_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "flag")]
    read_status: Option<bool>,
    #[serde(default, deserialize_with = "flag")]
    is_read: Option<bool>,
    #[serde(default, deserialize_with = "flag")]
    visible: Option<bool>,
    #[serde(default, deserialize_with = "flag")]
    is_visible: Option<bool>,
    #[serde(default, deserialize_with = "flag")]
    registered_mail: Option<bool>,
    #[serde(default, deserialize_with = "flag")]
    is_registered_mail: Option<bool>,
    #[serde(default)]
    message_type_id: Option<Value>,
    #[serde(default)]
    message_type: Option<Value>,
    #[serde(default)]
    sender_organization_id: Option<Value>,
    #[serde(default)]
    sender_application_id: Option<Value>,
    #[serde(default)]
    sender: Option<Value>,
    #[serde(default)]
    recipient: Option<Value>,
    #[serde(default)]
    partition: Option<Value>,
    #[serde(default)]
    partition_id: Option<Value>,
    #[serde(default)]
    for_the_attention_of: Sent<Value>,
    #[serde(default, deserialize_with = "flag")]
    body_main_content: Option<bool>,
    #[serde(default, deserialize_with = "flag")]
    is_body_main_content: Option<bool>,
    #[serde(default)]
    body_content: Sent<Value>,
    #[serde(default)]
    attachments: Option<Value>,
    #[serde(default)]
    payment_data: Sent<Value>,
    #[serde(default)]
    business_data_list: Sent<Value>,
    #[serde(default)]
    business_data: Sent<Value>,
    #[serde(default, deserialize_with = "flag")]
    reply_authorized: Option<bool>,
    #[serde(default, deserialize_with = "flag")]
    is_reply_authorized: Option<bool>,
}

/// The v3 `sender` object: who sent it, by enterprise number or national number.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SenderObject {
    #[serde(default, deserialize_with = "text")]
    ebox_type: Sent<String>,
    #[serde(default, deserialize_with = "text")]
    enterprise_number: Sent<String>,
    /// A name given with the enterprise number (seen in drafts; read where it comes).
    #[serde(default, deserialize_with = "translated")]
    name: Sent<Translated>,
    #[serde(default)]
    organization_id: Option<Value>,
    #[serde(default)]
    organization: Option<Value>,
    #[serde(default)]
    sender_organization_id: Option<Value>,
    #[serde(default)]
    application_id: Option<Value>,
    #[serde(default)]
    application: Option<Value>,
    #[serde(default)]
    sender_application_id: Option<Value>,
    #[serde(default)]
    partition: Option<Value>,
}

/// Enterprise numbers are written with 10 digits; a source may give fewer.
fn enterprise_number(n: String) -> String {
    let digits: String = n.chars().filter(|c| !matches!(c, '.' | ' ')).collect();
    if !digits.is_empty() && digits.len() < 10 && digits.chars().all(|c| c.is_ascii_digit()) {
        format!("{digits:0>10}")
    } else {
        n
    }
}

/// A partition as a name, or an object naming it.
fn partition(v: Option<&Value>) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Object {
        #[serde(default, deserialize_with = "text")]
        id: Sent<String>,
        #[serde(default, deserialize_with = "text")]
        partition_id: Sent<String>,
        #[serde(default, deserialize_with = "text")]
        name: Sent<String>,
    }
    match v? {
        v @ Value::Object(_) => Object::deserialize(v)
            .ok()
            .and_then(|o| o.id.or(o.partition_id).or(o.name).into_value()),
        v => as_text(v),
    }
    .filter(|p| !p.trim().is_empty())
}

/// `forTheAttentionOf` in one shape: v2's `id`, `name`, `type` and v3's `ssin`, `label`
/// give `id`, `name` and (where sent) `type`; a list is read entry by entry.
fn for_the_attention_of(v: &Value) -> Value {
    match v {
        Value::Array(list) => Value::Array(list.iter().map(for_the_attention_of).collect()),
        Value::Object(o) => {
            let mut out = serde_json::Map::new();
            let pick = |names: [&str; 2]| names.iter().find_map(|n| o.get(*n)).cloned();
            for (key, names) in [
                ("id", ["id", "ssin"]),
                ("name", ["name", "label"]),
                ("type", ["type", "type"]),
            ] {
                if let Some(v) = pick(names) {
                    out.insert(key.into(), v);
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// A message, normalised from v2 or v3.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub message_id: String,
    pub subject: Sent<Translated>,
    pub receipt_date: Option<DateTime<Utc>>,
    pub expiration_date: Option<DateTime<Utc>>,
    pub read_status: Option<bool>,
    /// As listed; a walk of hidden messages sets `false` where the item does not say.
    pub visible: Option<bool>,
    pub registered_mail: bool,
    pub message_type: Named,
    pub sender_organization: Named,
    pub sender_application: Named,
    /// v3: the kind of e-Box the sender has (`enterprise`, `citizen`, ...).
    pub sender_ebox_type: Option<String>,
    /// In one shape for v2 and v3 (see [`for_the_attention_of`]), as sent otherwise.
    pub for_the_attention_of: Sent<Value>,
    /// Present (true or false) when e-Box says the message may have a body; only the
    /// body call tells whether it has one, unless the body comes inline.
    pub body_main_content: Option<bool>,
    /// v3: the body inside the message (`bodyContent`); then no body call is needed.
    pub body_content: Sent<Translated>,
    /// The inline body exactly as sent, to be stored as the body.
    pub body_content_raw: Option<Value>,
    pub attachments: Vec<Attachment>,
    /// False when the listing held only part of the attachment list.
    pub attachments_whole: bool,
    pub payment_data: Sent<Value>,
    pub business_data_list: Sent<Value>,
    pub reply_authorized: bool,
    /// The v3 partition (sub-box) the message is in, wherever the message gives it: at
    /// the top, inside `recipient`, or inside `sender`.
    pub partition: Option<String>,
}

/// The listed attachments, and whether the list is whole: a paged list that counts more
/// than it holds, or one that is not a list, is asked for on its own.
fn attachment_list(v: Option<Value>) -> (Vec<Value>, bool) {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Paged {
        #[serde(default)]
        items: Option<Value>,
        #[serde(default, deserialize_with = "super::sent::lenient")]
        total_items: Option<u64>,
    }
    match v {
        None | Some(Value::Null) => (Vec::new(), true),
        Some(Value::Array(items)) => (items, true),
        Some(v) => match Paged::deserialize(&v) {
            Ok(Paged {
                items: Some(Value::Array(items)),
                total_items,
            }) => {
                let whole = total_items.is_none_or(|n| n as usize <= items.len());
                (items, whole)
            }
            _ => (Vec::new(), false),
        },
    }
}

/// What identifies an item, readable or not: its id (one that says something) and its
/// receipt date, under any of their names.
pub(super) fn clues(v: &Value) -> (Option<String>, Option<DateTime<Utc>>) {
    match v {
        Value::Object(_) => Wire::deserialize(v).map_or((None, None), |w| {
            let id = w.message_id.or(w.id).into_value().filter(|id| !id.trim().is_empty());
            (id, w.receipt_date.or(w.received_date).or(w.publication_date))
        }),
        _ => (None, None),
    }
}

impl Message {
    /// Reads v2 names, v3's `is`-prefixed booleans, `sender` object and inline body.
    pub fn read(v: &Value) -> Result<Self, String> {
        if !v.is_object() {
            return Err("the item is not an object".into());
        }
        let w = Wire::deserialize(v).map_err(|e| format!("the item does not read: {e}"))?;
        let message_id = w
            .message_id
            .clone()
            .or(w.id.clone())
            .into_value()
            .filter(|id| !id.trim().is_empty())
            .ok_or("the item has no messageId")?;
        Ok(Self::from_wire(message_id, w))
    }

    fn from_wire(message_id: String, w: Wire) -> Self {
        let sender_object = match &w.sender {
            Some(s @ Value::Object(_)) => SenderObject::deserialize(s).unwrap_or_default(),
            _ => SenderObject::default(),
        };
        let sender_text = w.sender.as_ref().filter(|s| !s.is_object());
        let recipient_partition = w.recipient.as_ref().and_then(|r| partition(r.get("partition")));
        let s = sender_object;
        let (attachments, attachments_whole) = attachment_list(w.attachments);
        let body_content_raw = w.body_content.value().cloned();
        Self {
            subject: w.subject,
            receipt_date: w.receipt_date.or(w.received_date).or(w.publication_date),
            expiration_date: w.expiration_date.or(w.expiry_date),
            read_status: w.read_status.or(w.is_read),
            visible: w.visible.or(w.is_visible),
            registered_mail: w.registered_mail.or(w.is_registered_mail).unwrap_or(false),
            message_type: Named::read(w.message_type_id.as_ref()).or(Named::read(w.message_type.as_ref())),
            sender_organization: Named::read(w.sender_organization_id.as_ref())
                .or(Named {
                    id: s.enterprise_number.map(enterprise_number),
                    name: s.name,
                })
                .or(Named::read(s.organization_id.as_ref()))
                .or(Named::read(s.organization.as_ref()))
                .or(Named::read(s.sender_organization_id.as_ref()))
                .or(Named::read(sender_text)),
            sender_application: Named::read(w.sender_application_id.as_ref())
                .or(Named::read(s.application_id.as_ref()))
                .or(Named::read(s.application.as_ref()))
                .or(Named::read(s.sender_application_id.as_ref())),
            sender_ebox_type: s.ebox_type.into_value(),
            for_the_attention_of: w.for_the_attention_of.map(|v| for_the_attention_of(&v)),
            body_main_content: w.body_main_content.or(w.is_body_main_content),
            body_content: match w.body_content {
                Sent::Value(v) => Translated::read(&v).map_or(Sent::Absent, Sent::Value),
                other => other.map(|_| Translated::default()),
            },
            body_content_raw,
            attachments: read_attachments(&attachments),
            attachments_whole,
            payment_data: w.payment_data,
            business_data_list: w.business_data_list.or(w.business_data),
            reply_authorized: w.reply_authorized.or(w.is_reply_authorized).unwrap_or(false),
            partition: partition(w.partition.as_ref())
                .or(partition(w.partition_id.as_ref()))
                .or(recipient_partition)
                .or(partition(s.partition.as_ref())),
            message_id,
        }
    }

    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    /// The body, when it came inside the message: its text and the JSON as sent.
    pub fn inline_body(&self) -> Option<(&Translated, &Value)> {
        Some((self.body_content.value()?, self.body_content_raw.as_ref()?))
    }
}
