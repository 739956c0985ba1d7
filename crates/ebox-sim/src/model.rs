//! What the simulator holds: providers, e-Boxes, messages, attachments, reference data.
//! JSON is rendered with the field names of the published API descriptions.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest;
use std::sync::OnceLock;

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

/// An id as one path segment of a link: everything but RFC 3986's unreserved characters
/// percent-encoded, so that an id like `../x` names itself and not another path.
pub fn segment(id: &str) -> String {
    if id.bytes().all(|b| b == b'.') {
        return "%2E".repeat(id.len());
    }
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
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

/// The Message Registry API a provider speaks: v2 (the 2.1 YAML) or v3 (the current
/// documentation: `is`-prefixed booleans, a `sender` object, partitions). Providers
/// migrate one by one, so both are served side by side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiVersion {
    #[default]
    V2,
    V3,
}

/// The JSON names of a message's and an attachment's booleans in one API version.
#[derive(Debug)]
pub struct FieldNames {
    pub read: &'static str,
    pub visible: &'static str,
    pub registered_mail: &'static str,
    pub body_main_content: &'static str,
    pub reply_authorized: &'static str,
    pub main_content: &'static str,
    pub signed: &'static str,
}

const V2_NAMES: FieldNames = FieldNames {
    read: "readStatus",
    visible: "visible",
    registered_mail: "registeredMail",
    body_main_content: "bodyMainContent",
    reply_authorized: "replyAuthorized",
    main_content: "mainContent",
    signed: "attachmentSigned",
};

const V3_NAMES: FieldNames = FieldNames {
    read: "isRead",
    visible: "isVisible",
    registered_mail: "isRegisteredMail",
    body_main_content: "isBodyMainContent",
    reply_authorized: "isReplyAuthorized",
    main_content: "isMainContent",
    signed: "isSigned",
};

impl ApiVersion {
    /// The version segment of the registry's URL (`.../v3/`).
    pub fn segment(self) -> &'static str {
        match self {
            ApiVersion::V2 => "v2",
            ApiVersion::V3 => "v3",
        }
    }

    /// What the provider announces as `apiSupportedVersion`.
    pub fn announced(self) -> &'static str {
        match self {
            ApiVersion::V2 => "2.1",
            ApiVersion::V3 => "3.0",
        }
    }

    pub fn names(self) -> &'static FieldNames {
        match self {
            ApiVersion::V2 => &V2_NAMES,
            ApiVersion::V3 => &V3_NAMES,
        }
    }
}

/// Items per page a registry serves at most, whatever `pageSize` asked for.
pub const DEFAULT_PAGE_LIMIT: usize = 50;

fn default_page_limit() -> usize {
    DEFAULT_PAGE_LIMIT
}

/// The partition a v3 message is in when none was given.
pub const DEFAULT_PARTITION: &str = "GENERAL";

const TECHNICAL_CONTACT: &str = "eboxintegration@example.invalid";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub activation: NaiveDate,
    #[serde(default)]
    pub deactivation: Option<NaiveDate>,
    #[serde(default)]
    pub maintenance: Vec<Maintenance>,
    #[serde(default)]
    pub api_version: ApiVersion,
    /// Items per page this registry serves at most.
    #[serde(default = "default_page_limit")]
    pub page_limit: usize,
}

impl Provider {
    pub fn active_on(&self, day: NaiveDate) -> bool {
        self.activation <= day && self.deactivation.is_none_or(|d| day < d)
    }

    pub fn in_maintenance(&self, now: DateTime<Utc>) -> bool {
        self.maintenance.iter().any(|m| m.start <= now && now < m.end)
    }

    /// Base URL of this provider's Message Registry, without the trailing slash; the
    /// version it speaks is part of it.
    pub fn registry_url(&self, base_url: &str) -> String {
        format!("{base_url}/registries/{}/{}", self.id, self.api_version.segment())
    }

    fn maintenance_json(&self) -> Vec<Value> {
        self.maintenance
            .iter()
            .map(|m| json!({"startDate": datetime(m.start), "endDate": datetime(m.end)}))
            .collect()
    }

    /// A `MessageProvider` of the older Provider Registry (federation 1.3 YAML). Optional
    /// fields are left out when empty, as the YAML allows.
    pub fn message_provider_json(&self, base_url: &str) -> Value {
        let mut v = json!({
            "messageProviderId": self.id,
            "messageProviderName": Translated::all(&self.name, &self.name, &self.name),
            "messageProviderDescription": Translated::all(
                &format!("Berichten van {}", self.name),
                &format!("Messages de {}", self.name),
                &format!("Nachrichten von {}", self.name),
            ),
            "messageProviderUrl": format!("{}/", self.registry_url(base_url)),
            "messageProviderActivationDate": self.activation.to_string(),
            "messageProviderTechnicalContact": TECHNICAL_CONTACT,
            "apiSupportedVersion": self.api_version.announced(),
        });
        if let Some(d) = self.deactivation {
            v["messageProviderDeactivationDate"] = json!(d.to_string());
        }
        if !self.maintenance.is_empty() {
            v["messageProviderPlannedMaintenance"] = json!(self.maintenance_json());
        }
        v
    }

    /// An entry of the current Document Provider Registry. Its shape is not published;
    /// the simulator chooses these names, all different from the older list's, so that
    /// a consumer cannot read one list with the other's schema:
    ///
    /// ```json
    /// {"id": "ebox-enterprise",
    ///  "name": {"nl": "...", "fr": "...", "de": "..."},
    ///  "messageRegistryUrl": "{base}/registries/ebox-enterprise/v3/",
    ///  "apiSupportedVersion": "3.0",
    ///  "activationDate": "2018-01-01",
    ///  "deactivationDate": "2020-01-01",                          // only when set
    ///  "plannedMaintenances": [{"startDate": "...", "endDate": "..."}], // only when any
    ///  "technicalContact": "..."}                                 // a field nobody asked for
    /// ```
    pub fn message_registry_json(&self, base_url: &str) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": Translated::all(&self.name, &self.name, &self.name),
            "messageRegistryUrl": format!("{}/", self.registry_url(base_url)),
            "apiSupportedVersion": self.api_version.announced(),
            "activationDate": self.activation.to_string(),
            "technicalContact": TECHNICAL_CONTACT,
        });
        if let Some(d) = self.deactivation {
            v["deactivationDate"] = json!(d.to_string());
        }
        if !self.maintenance.is_empty() {
            v["plannedMaintenances"] = json!(self.maintenance_json());
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
    /// The id the registry knows it by: its content URL is built from it, listed or not.
    pub id: String,
    /// Whether the metadata shows `attachmentId` (the 2.1 YAML does not require it);
    /// when not, `contentHref` is the only way to the content.
    pub id_listed: bool,
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
            id_listed: true,
            file_name,
            media_type,
            main_content,
            signed: false,
            title: None,
            content,
            digest,
        }
    }

    /// Size in kB, as the API gives it: informational, rounded.
    pub fn size_kb(&self) -> f64 {
        (self.content.len() as f64 / 1024.0 * 100.0).round() / 100.0
    }

    pub fn to_json(&self, message_href: &str, version: ApiVersion) -> Value {
        let names = version.names();
        let mut v = json!({
            "fileName": self.file_name,
            "mediaType": self.media_type,
            "size": self.size_kb(),
            "contentHref": format!("{message_href}/attachments/{}/content", segment(&self.id)),
        });
        v[names.main_content] = json!(self.main_content);
        v[names.signed] = json!(self.signed);
        if self.id_listed {
            v["attachmentId"] = json!(self.id);
        }
        if let Some(t) = &self.title {
            v["attachmentTitle"] = json!(t);
        }
        if let Some(d) = &self.digest {
            v["digest"] = json!({"digestMethod": "sha_256", "digestValue": d});
        }
        v
    }
}

/// A message's JSON as listed, rendered at most once per API version and change.
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
    /// The v3 partition (sub-box); [`DEFAULT_PARTITION`] when None. v2 never shows it.
    pub partition: Option<String>,
    pub body: Option<Translated>,
    pub body_main_content: bool,
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
    pub fn json_bytes(&self, registry_url: &str, version: ApiVersion) -> Bytes {
        self.rendered
            .slot(version)
            .get_or_init(|| Bytes::from(self.to_json(registry_url, version).to_string()))
            .clone()
    }

    pub fn attachments_json(&self, registry_url: &str, version: ApiVersion) -> Value {
        let href = format!("{registry_url}/ebox/messages/{}", segment(&self.id));
        json!({
            "items": self.attachments.iter().map(|a| a.to_json(&href, version)).collect::<Vec<_>>(),
            "totalItems": self.attachments.len(),
        })
    }

    pub fn to_json(&self, registry_url: &str, version: ApiVersion) -> Value {
        let names = version.names();
        let mut v = json!({
            "messageId": self.id,
            "subject": self.subject,
            "receiptDate": datetime(self.receipt),
            "expirationDate": datetime(self.expiration),
            "messageTypeId": self.message_type_id,
            "attachments": self.attachments_json(registry_url, version),
        });
        v[names.read] = json!(self.read);
        v[names.visible] = json!(self.visible);
        v[names.registered_mail] = json!(self.registered_mail);
        // Required, so present on every message: false for an annex body and for none.
        v[names.body_main_content] = json!(self.body_is_main());
        v[names.reply_authorized] = json!(self.reply_authorized);
        match version {
            ApiVersion::V2 => self.add_v2_sender(&mut v),
            ApiVersion::V3 => self.add_v3_sender_and_partition(&mut v),
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

    fn add_v2_sender(&self, v: &mut Value) {
        v["senderOrganizationId"] = json!(self.sender_organization_id);
        if let Some(app) = &self.sender_application_id {
            v["senderApplicationId"] = json!(app);
        }
    }

    fn add_v3_sender_and_partition(&self, v: &mut Value) {
        let mut sender = json!({"organizationId": self.sender_organization_id});
        if let Some(app) = &self.sender_application_id {
            sender["applicationId"] = json!(app);
        }
        v["sender"] = sender;
        v["partition"] = json!(self.partition.as_deref().unwrap_or(DEFAULT_PARTITION));
    }
}

/// Something a registry lists that is not a message a consumer can read (a shape no
/// schema foresaw): served verbatim among the messages, by its receipt time.
#[derive(Debug, Clone)]
pub struct RawItem {
    pub raw: Value,
    pub received_at: DateTime<Utc>,
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
