//! A message as listed, v2 or v3, read into one normalised form (the rules: [`crate::model`]).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::attachment::{Attachment, read_attachments};
use super::named::Named;
use super::sent::{Read, Sent, Translated, pick};

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
    match v? {
        Value::Object(o) => pick::<Sent<String>>(o, &["id", "partitionId", "name"]).into_value(),
        v => String::read(v),
    }
    .filter(|p| !p.trim().is_empty())
}

/// `forTheAttentionOf` in one shape: v2's `id`, `name`, `type` and v3's `ssin`, `label`
/// give `id`, `name` and (where sent) `type`; a list is read entry by entry.
fn for_the_attention_of(v: &Value) -> Value {
    match v {
        Value::Array(list) => Value::Array(list.iter().map(for_the_attention_of).collect()),
        Value::Object(o) => Value::Object(
            [
                ("id", ["id", "ssin"]),
                ("name", ["name", "label"]),
                ("type", ["type", "type"]),
            ]
            .into_iter()
            .filter_map(|(key, names)| Some((key.to_owned(), names.iter().find_map(|n| o.get(*n))?.clone())))
            .collect(),
        ),
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
fn attachment_list(v: Option<&Value>) -> (&[Value], bool) {
    match v {
        None | Some(Value::Null) => (&[], true),
        Some(Value::Array(items)) => (items, true),
        Some(Value::Object(o)) => match o.get("items") {
            Some(Value::Array(items)) => {
                let total: Option<u64> = pick(o, &["totalItems"]);
                (items, total.is_none_or(|n| n as usize <= items.len()))
            }
            _ => (&[], false),
        },
        Some(_) => (&[], false),
    }
}

const RECEIPT_DATE: [&str; 3] = ["receiptDate", "receivedDate", "publicationDate"];

/// An item's id, one that says something.
fn message_id(o: &Map<String, Value>) -> Option<String> {
    pick::<Sent<String>>(o, &["messageId", "id"])
        .into_value()
        .filter(|id| !id.trim().is_empty())
}

/// What identifies an item, readable or not: its id and its receipt date.
pub(super) fn clues(v: &Value) -> (Option<String>, Option<DateTime<Utc>>) {
    v.as_object()
        .map_or((None, None), |o| (message_id(o), pick(o, &RECEIPT_DATE)))
}

impl Message {
    /// Reads v2 names, v3's `is`-prefixed booleans, `sender` object and inline body; a
    /// field under both its v2 and v3 names is still read.
    pub fn read(v: &Value) -> Result<Self, String> {
        let o = v.as_object().ok_or("the item is not an object")?;
        let message_id = message_id(o).ok_or("the item has no messageId")?;
        let flag = |names: &[&str]| pick::<Option<bool>>(o, names);
        let named = |o: &Map<String, Value>, name: &str| Named::read(o.get(name).filter(|v| !v.is_null()));
        // The v3 `sender` object: who sent it, by enterprise number or national number.
        let sender = o.get("sender").filter(|s| !s.is_null());
        let no_sender = Map::new();
        let s = sender.and_then(Value::as_object).unwrap_or(&no_sender);
        let (attachments, attachments_whole) = attachment_list(o.get("attachments"));
        let body_content: Sent<Value> = pick(o, &["bodyContent"]);
        Ok(Self {
            subject: pick(o, &["subject"]),
            receipt_date: pick(o, &RECEIPT_DATE),
            expiration_date: pick(o, &["expirationDate", "expiryDate"]),
            read_status: flag(&["readStatus", "isRead"]),
            visible: flag(&["visible", "isVisible"]),
            registered_mail: flag(&["registeredMail", "isRegisteredMail"]).unwrap_or(false),
            message_type: named(o, "messageTypeId").or(named(o, "messageType")),
            sender_organization: named(o, "senderOrganizationId")
                .or(Named {
                    id: pick::<Sent<String>>(s, &["enterpriseNumber"]).map(enterprise_number),
                    // A name given with the enterprise number (seen in drafts; read where it comes).
                    name: pick(s, &["name"]),
                })
                .or(named(s, "organizationId"))
                .or(named(s, "organization"))
                .or(named(s, "senderOrganizationId"))
                .or(Named::read(sender.filter(|s| !s.is_object()))),
            sender_application: named(o, "senderApplicationId")
                .or(named(s, "applicationId"))
                .or(named(s, "application"))
                .or(named(s, "senderApplicationId")),
            sender_ebox_type: pick::<Sent<String>>(s, &["eboxType"]).into_value(),
            for_the_attention_of: pick::<Sent<Value>>(o, &["forTheAttentionOf"]).map(|v| for_the_attention_of(&v)),
            body_main_content: flag(&["bodyMainContent", "isBodyMainContent"]),
            body_content_raw: body_content.value().cloned(),
            body_content: match body_content {
                Sent::Value(v) => Translated::read(&v).map_or(Sent::Absent, Sent::Value),
                other => other.map(|_| Translated::default()),
            },
            attachments: read_attachments(attachments),
            attachments_whole,
            payment_data: pick(o, &["paymentData"]),
            business_data_list: pick(o, &["businessDataList", "businessData"]),
            reply_authorized: flag(&["replyAuthorized", "isReplyAuthorized"]).unwrap_or(false),
            partition: partition(o.get("partition"))
                .or(partition(o.get("partitionId")))
                .or(o.get("recipient").and_then(|r| partition(r.get("partition"))))
                .or(partition(s.get("partition"))),
            message_id,
        })
    }

    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    /// The body, when it came inside the message: its text and the JSON as sent.
    pub fn inline_body(&self) -> Option<(&Translated, &Value)> {
        Some((self.body_content.value()?, self.body_content_raw.as_ref()?))
    }
}
