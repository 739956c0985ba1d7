//! A message in an e-Box, and its JSON in either API version.

use std::sync::OnceLock;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{ApiVersion, Attachment, DEFAULT_PARTITION, PartitionPlace, Translated, datetime, segment};

/// A message's JSON as listed, rendered at most once per API version and change.
///
/// What else the JSON depends on ([`RenderContext`]) is fixed while the message lies in
/// its e-Box: whoever changes the message or its provider clears this, and a message
/// inserted into an e-Box starts with it empty.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    v2: OnceLock<Bytes>,
    v3: OnceLock<Bytes>,
}

impl Rendered {
    fn slot(&self, version: ApiVersion) -> &OnceLock<Bytes> {
        match version {
            ApiVersion::V2 => &self.v2,
            ApiVersion::V3 => &self.v3,
        }
    }
}

/// What a message's JSON depends on besides the message: the registry that serves it
/// and the e-Box it lies in.
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    /// The registry's base URL (no trailing slash): hrefs start with it.
    pub registry_url: &'a str,
    pub version: ApiVersion,
    /// Where v3 shows the partition.
    pub partition_place: PartitionPlace,
    /// The enterprise whose e-Box holds the message: v3 may name it as the recipient.
    pub enterprise: &'a str,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub subject: Translated,
    pub receipt: DateTime<Utc>,
    pub expiration: DateTime<Utc>,
    pub read: bool,
    /// Hidden messages (false) are left out of a list that does not ask for them, yet
    /// counted by the summary.
    pub visible: bool,
    pub registered_mail: bool,
    /// In the v2 shape `{"id", "type", "name"}`; v3 renders it as `{"ssin", "label"}`.
    pub for_the_attention_of: Option<Value>,
    pub message_type_id: String,
    /// v2's `senderOrganizationId`; v3's `sender.enterpriseNumber`.
    pub sender_organization_id: String,
    /// v2's `senderApplicationId`; v3 does not give the application.
    pub sender_application_id: Option<String>,
    /// The v3 partition (sub-box); [`DEFAULT_PARTITION`] when None. v2 never shows it.
    pub partition: Option<String>,
    pub body: Option<Translated>,
    pub body_main_content: bool,
    /// Whether a v3 registry lists the body inside the message (`bodyContent`); the
    /// body route serves it either way. v2 never does.
    pub body_inline: bool,
    pub payment_data: Option<Value>,
    pub business_data: Vec<Value>,
    pub reply_authorized: bool,
    pub attachments: Vec<Attachment>,
    /// The JSON as listed; whoever changes the message clears it.
    pub rendered: Rendered,
}

impl Message {
    /// Whether the body exists and is the main content: only then does reading it make
    /// the message read, and only then is `bodyMainContent` true.
    pub fn body_is_main(&self) -> bool {
        self.body.is_some() && self.body_main_content
    }

    /// The message's JSON, rendered at most once per change: listing is then mostly
    /// copying, which keeps the simulator far from being a benchmark's bottleneck.
    pub fn json_bytes(&self, at: &RenderContext) -> Bytes {
        self.rendered
            .slot(at.version)
            .get_or_init(|| Bytes::from(self.to_json(at).to_string()))
            .clone()
    }

    pub fn attachments_json(&self, registry_url: &str, version: ApiVersion) -> Value {
        let href = format!("{registry_url}/ebox/messages/{}", segment(&self.id));
        json!({
            "items": self.attachments.iter().map(|a| a.to_json(&href, version)).collect::<Vec<_>>(),
            "totalItems": self.attachments.len(),
        })
    }

    pub fn to_json(&self, at: &RenderContext) -> Value {
        let names = at.version.names();
        let mut v = json!({
            "messageId": self.id,
            "subject": self.subject,
            "receiptDate": datetime(self.receipt),
            "expirationDate": datetime(self.expiration),
            "messageTypeId": self.message_type_id,
            "attachments": self.attachments_json(at.registry_url, at.version),
        });
        v[names.read] = json!(self.read);
        v[names.visible] = json!(self.visible);
        v[names.registered_mail] = json!(self.registered_mail);
        // Required, so present on every message: false for an annex body and for none.
        v[names.body_main_content] = json!(self.body_is_main());
        v[names.reply_authorized] = json!(self.reply_authorized);
        match at.version {
            ApiVersion::V2 => self.add_v2_parties(&mut v),
            ApiVersion::V3 => self.add_v3_parties(&mut v, at),
        }
        if let Some(p) = &self.payment_data {
            v["paymentData"] = p.clone();
        }
        if !self.business_data.is_empty() {
            v["businessDataList"] = json!({"items": self.business_data, "totalItems": self.business_data.len()});
        }
        v
    }

    fn add_v2_parties(&self, v: &mut Value) {
        v["senderOrganizationId"] = json!(self.sender_organization_id);
        if let Some(app) = &self.sender_application_id {
            v["senderApplicationId"] = json!(app);
        }
        if let Some(fta) = &self.for_the_attention_of {
            v["forTheAttentionOf"] = fta.clone();
        }
    }

    /// The shape of the provider migration notes: a `sender` object naming an
    /// enterprise (and no application), the partition where this provider puts it,
    /// `forTheAttentionOf` with `ssin` and `label`, and the body when it comes inline.
    fn add_v3_parties(&self, v: &mut Value, at: &RenderContext) {
        let partition = json!(self.partition.as_deref().unwrap_or(DEFAULT_PARTITION));
        let mut sender = json!({"eboxType": "enterprise", "enterpriseNumber": self.sender_organization_id});
        match at.partition_place {
            PartitionPlace::Top => v["partition"] = partition,
            PartitionPlace::Sender => sender["partition"] = partition,
            PartitionPlace::Recipient => {
                v["recipient"] = json!({
                    "eboxType": "enterprise",
                    "enterpriseNumber": at.enterprise,
                    "partition": partition,
                });
            }
        }
        v["sender"] = sender;
        if let Some(fta) = &self.for_the_attention_of {
            v["forTheAttentionOf"] = v3_for_the_attention_of(fta);
        }
        if let Some(body) = self.body.as_ref().filter(|_| self.body_inline) {
            v["bodyContent"] = json!(body);
        }
    }
}

/// v3's `forTheAttentionOf` from the v2 shape a message holds: `id` becomes `ssin`,
/// `name` becomes `label`, `type` is left out; anything else passes unchanged.
fn v3_for_the_attention_of(v2: &Value) -> Value {
    let Some(fields) = v2.as_object() else {
        return v2.clone();
    };
    let v3: Map<String, Value> = fields
        .iter()
        .filter(|(k, _)| k.as_str() != "type")
        .map(|(k, value)| {
            let name = match k.as_str() {
                "id" => "ssin",
                "name" => "label",
                other => other,
            };
            (name.to_owned(), value.clone())
        })
        .collect();
    Value::Object(v3)
}

/// Something a registry lists that is not a message a consumer can read (a shape no
/// schema foresaw): served verbatim among the messages, by its receipt time.
#[derive(Debug, Clone)]
pub struct RawItem {
    pub raw: Value,
    pub received_at: DateTime<Utc>,
}
