//! What the simulator holds: providers, e-Boxes, messages, attachments, reference data.
//! JSON is rendered with the field names of the published API descriptions.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Translated {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nl: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub de: Option<String>,
}

impl Translated {
    pub fn all(nl: &str, fr: &str, de: &str) -> Self {
        Self {
            nl: Some(nl.into()),
            fr: Some(fr.into()),
            de: Some(de.into()),
        }
    }
}

pub fn datetime(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A date interval during which a provider does not answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintenance {
    #[serde(rename = "startDate")]
    pub start: DateTime<Utc>,
    #[serde(rename = "endDate")]
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub activation: NaiveDate,
    #[serde(default)]
    pub deactivation: Option<NaiveDate>,
    #[serde(default)]
    pub maintenance: Vec<Maintenance>,
}

impl Provider {
    pub fn active_on(&self, day: NaiveDate) -> bool {
        self.activation <= day && self.deactivation.is_none_or(|d| day < d)
    }

    pub fn in_maintenance(&self, now: DateTime<Utc>) -> bool {
        self.maintenance.iter().any(|m| m.start <= now && now < m.end)
    }

    pub fn to_json(&self, base_url: &str) -> Value {
        let mut v = json!({
            "messageProviderId": self.id,
            "messageProviderName": Translated::all(&self.name, &self.name, &self.name),
            "messageProviderDescription": Translated::all(
                &format!("Berichten van {}", self.name),
                &format!("Messages de {}", self.name),
                &format!("Nachrichten von {}", self.name),
            ),
            "messageProviderUrl": format!("{base_url}/registries/{}/", self.id),
            "messageProviderActivationDate": self.activation.to_string(),
            "messageProviderTechnicalContact": "eboxintegration@example.invalid",
            "messageProviderPlannedMaintenance": self.maintenance.iter().map(|m| json!({
                "startDate": datetime(m.start),
                "endDate": datetime(m.end),
            })).collect::<Vec<_>>(),
            "apiSupportedVersion": "2.1",
        });
        if let Some(d) = self.deactivation {
            v["messageProviderDeactivationDate"] = json!(d.to_string());
        }
        v
    }
}

/// Attachment bytes: given, or generated from a seed as a stream so that a large
/// attachment is never held whole in memory.
#[derive(Debug, Clone)]
pub enum Content {
    Bytes(Bytes),
    Generated { seed: u64, len: u64 },
}

pub const CHUNK: usize = 64 * 1024;

impl Content {
    pub fn len(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::Generated { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `index`th chunk of at most [`CHUNK`] bytes.
    pub fn chunk(&self, index: u64) -> Bytes {
        match self {
            Content::Bytes(b) => {
                let start = (index as usize).saturating_mul(CHUNK).min(b.len());
                b.slice(start..(start + CHUNK).min(b.len()))
            }
            Content::Generated { seed, len } => generated_chunk(*seed, *len, index),
        }
    }

    pub fn chunks(&self) -> u64 {
        self.len().div_ceil(CHUNK as u64)
    }

    pub fn sha256(&self) -> [u8; 32] {
        let mut hasher = sha2::Sha256::new();
        for i in 0..self.chunks() {
            hasher.update(self.chunk(i));
        }
        hasher.finalize().into()
    }
}

/// Deterministic bytes: a PDF header, then blocks that differ by seed and position.
/// Cheap to make (a copy and a counter per chunk), so streaming is never CPU-bound.
fn generated_chunk(seed: u64, len: u64, index: u64) -> Bytes {
    let start = index * CHUNK as u64;
    if start >= len {
        return Bytes::new();
    }
    let size = (len - start).min(CHUNK as u64) as usize;
    let mut buf = BytesMut::with_capacity(size);
    let mut state = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    while buf.len() < size {
        state = splitmix64(state);
        let word = state.to_le_bytes();
        let take = (size - buf.len()).min(8);
        buf.extend_from_slice(&word[..take]);
    }
    if index == 0 {
        let header = b"%PDF-1.7\n";
        let n = header.len().min(size);
        buf[..n].copy_from_slice(&header[..n]);
    }
    buf.freeze()
}

pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[derive(Debug, Clone)]
pub struct Attachment {
    pub id: String,
    pub file_name: String,
    pub media_type: String,
    pub main_content: bool,
    pub signed: bool,
    pub title: Option<Translated>,
    pub content: Content,
    /// base64url SHA-256 of the content, as e-Box announces it (None: no digest given).
    pub digest: Option<String>,
}

impl Attachment {
    pub fn new(id: String, file_name: String, media_type: String, main_content: bool, content: Content) -> Self {
        let digest = Some(URL_SAFE_NO_PAD.encode(content.sha256()));
        Self {
            id,
            file_name,
            media_type,
            main_content,
            signed: false,
            title: None,
            content,
            digest,
        }
    }

    pub fn to_json(&self, message_href: &str) -> Value {
        let mut v = json!({
            "attachmentId": self.id,
            "fileName": self.file_name,
            "mediaType": self.media_type,
            "mainContent": self.main_content,
            "size": (self.content.len() as f64 / 1024.0 * 100.0).round() / 100.0,
            "attachmentSigned": self.signed,
            "contentHref": format!("{message_href}/attachments/{}/content", self.id),
        });
        if let Some(t) = &self.title {
            v["attachmentTitle"] = json!(t);
        }
        if let Some(d) = &self.digest {
            v["digest"] = json!({"digestMethod": "sha_256", "digestValue": d});
        }
        v
    }
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub subject: Translated,
    pub receipt: DateTime<Utc>,
    pub expiration: DateTime<Utc>,
    pub read: bool,
    pub visible: bool,
    pub registered_mail: bool,
    pub for_the_attention_of: Option<Value>,
    pub message_type_id: String,
    pub sender_organization_id: String,
    pub sender_application_id: Option<String>,
    pub body: Option<Translated>,
    pub body_main_content: bool,
    pub payment_data: Option<Value>,
    pub business_data: Vec<Value>,
    pub reply_authorized: bool,
    pub attachments: Vec<Attachment>,
    /// The JSON as listed, rendered once; whoever changes the message clears it.
    pub rendered: std::sync::OnceLock<Bytes>,
}

impl Message {
    /// The message's JSON, rendered at most once per change: listing is then mostly
    /// copying, which keeps the simulator far from being a benchmark's bottleneck.
    pub fn json_bytes(&self, registry_url: &str) -> Bytes {
        self.rendered
            .get_or_init(|| Bytes::from(self.to_json(registry_url).to_string()))
            .clone()
    }

    pub fn to_json(&self, registry_url: &str) -> Value {
        let href = format!("{registry_url}/ebox/messages/{}", self.id);
        let mut v = json!({
            "messageId": self.id,
            "subject": self.subject,
            "receiptDate": datetime(self.receipt),
            "expirationDate": datetime(self.expiration),
            "readStatus": self.read,
            "visible": self.visible,
            "registeredMail": self.registered_mail,
            "messageTypeId": self.message_type_id,
            "senderOrganizationId": self.sender_organization_id,
            "bodyMainContent": self.body_main_content,
            "replyAuthorized": self.reply_authorized,
            "attachments": {
                "items": self.attachments.iter().map(|a| a.to_json(&href)).collect::<Vec<_>>(),
                "totalItems": self.attachments.len(),
            },
        });
        if let Some(app) = &self.sender_application_id {
            v["senderApplicationId"] = json!(app);
        }
        if let Some(fta) = &self.for_the_attention_of {
            v["forTheAttentionOf"] = fta.clone();
        }
        if let Some(p) = &self.payment_data {
            v["paymentData"] = p.clone();
        }
        if !self.business_data.is_empty() {
            v["businessDataList"] = json!({"items": self.business_data, "totalItems": self.business_data.len()});
        }
        v
    }
}

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
