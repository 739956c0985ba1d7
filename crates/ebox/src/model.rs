//! The consultation schemas of the Message Registry (v2 and v3) and of provider
//! discovery, read by hand from JSON so that every field but the message id is optional,
//! unknown fields are ignored and both API versions give the same normalised values. The
//! raw JSON of every message is kept beside its parsed form, so nothing e-Box sent is
//! dropped.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest as _;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Translated {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub de: Option<String>,
}

impl Translated {
    /// An object with `nl`/`fr`/`de`, or one plain string for all three.
    pub fn read(v: &Value) -> Option<Self> {
        match v {
            Value::String(s) => Some(Self {
                nl: Some(s.clone()),
                fr: Some(s.clone()),
                de: Some(s.clone()),
            }),
            Value::Object(_) => {
                let t: Translated = serde_json::from_value(v.clone()).ok()?;
                (t != Translated::default()).then_some(t)
            }
            _ => None,
        }
    }
}

/// The first of several names under which a field may come (v2, v3, discovery shapes);
/// `null` counts as absent.
pub(crate) fn field<'a>(v: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|n| v.get(*n).filter(|x| !x.is_null()))
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text(v: &Value, names: &[&str]) -> Option<String> {
    scalar(field(v, names)?)
}

fn flag(v: &Value, names: &[&str]) -> Option<bool> {
    match field(v, names)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The names a message's id and dates come under.
const MESSAGE_ID: &[&str] = &["messageId", "id"];
const RECEIPT_DATE: &[&str] = &["receiptDate", "receivedDate", "publicationDate"];
const EXPIRATION_DATE: &[&str] = &["expirationDate", "expiryDate"];

/// A date-time as e-Box writes it: RFC 3339, or without offset (taken as UTC), or a date.
pub fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

fn instant(v: &Value, names: &[&str]) -> Result<Option<DateTime<Utc>>, String> {
    match field(v, names) {
        None => Ok(None),
        Some(Value::String(s)) => parse_instant(s)
            .map(Some)
            .ok_or_else(|| format!("{} {s:?} is not a date", names[0])),
        Some(other) => Err(format!("{} {other} is not a date", names[0])),
    }
}

fn date(v: &Value, names: &[&str]) -> Result<Option<NaiveDate>, String> {
    Ok(instant(v, names)?.map(|t| t.date_naive()))
}

/// Which Message Registry API a provider speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiVersion {
    #[default]
    V2,
    V3,
}

impl ApiVersion {
    /// From what a provider announces (`apiSupportedVersion`), else from its URL.
    pub fn announced(version: Option<&str>, url: &str) -> Self {
        let major = |s: &str| {
            s.trim()
                .trim_start_matches(['v', 'V'])
                .split('.')
                .next()
                .and_then(|m| m.parse::<u32>().ok())
        };
        if let Some(m) = version.and_then(major) {
            return if m >= 3 { ApiVersion::V3 } else { ApiVersion::V2 };
        }
        let in_url = url
            .split(['/', '?'])
            .filter_map(|segment| segment.strip_prefix(['v', 'V']).and_then(|n| n.parse::<u32>().ok()))
            .next_back();
        match in_url {
            Some(m) if m >= 3 => ApiVersion::V3,
            _ => ApiVersion::V2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V2 => "v2",
            ApiVersion::V3 => "v3",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedMaintenance {
    pub start_date: DateTime<Utc>,
    pub end_date: DateTime<Utc>,
}

/// A Document Provider: one Message Registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageProvider {
    pub message_provider_id: String,
    pub message_provider_url: String,
    /// Absent: active from the start.
    pub message_provider_activation_date: Option<NaiveDate>,
    pub message_provider_deactivation_date: Option<NaiveDate>,
    pub message_provider_planned_maintenance: Vec<PlannedMaintenance>,
    pub message_provider_name: Option<Translated>,
    pub api_version: ApiVersion,
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
    /// A provider at `url`, active from the start, speaking the version its URL says.
    pub fn new(id: &str, url: &str) -> Self {
        Self {
            message_provider_id: id.to_owned(),
            message_provider_url: url.to_owned(),
            message_provider_activation_date: None,
            message_provider_deactivation_date: None,
            message_provider_planned_maintenance: Vec::new(),
            message_provider_name: None,
            api_version: ApiVersion::announced(None, url),
        }
    }

    /// One entry of either discovery answer: the Provider Registry's `MessageProvider`
    /// (federation 1.3) or the Document Provider Registry's entry, whose shape is not
    /// published; both are read by the names they are known to use.
    pub fn read(entry: &Value) -> Result<Self, String> {
        if !entry.is_object() {
            return Err(format!("entry is not an object: {}", short(entry)));
        }
        let id = text(
            entry,
            &[
                "messageProviderId",
                "messageRegistryId",
                "documentProviderId",
                "providerId",
                "registryId",
                "id",
            ],
        )
        .ok_or("entry has no provider id")?;
        let url = text(
            entry,
            &[
                "messageProviderUrl",
                "messageRegistryUrl",
                "documentProviderUrl",
                "url",
                "baseUrl",
                "endpoint",
                "href",
            ],
        )
        .ok_or_else(|| format!("provider {id} has no URL"))?;
        match reqwest::Url::parse(&url) {
            // The token goes with every request: in clear text only to this machine.
            Ok(u) if u.scheme() == "https" && !u.cannot_be_a_base() => {}
            Ok(u) if u.scheme() == "http" && is_loopback(&u) => {}
            _ => return Err(format!("provider {id}: {url:?} is not an https URL")),
        }
        let with_id = |e: String| format!("provider {id}: {e}");
        let maintenance = match field(
            entry,
            &[
                "messageProviderPlannedMaintenance",
                "plannedMaintenances",
                "plannedMaintenance",
                "maintenance",
            ],
        ) {
            None => Vec::new(),
            Some(Value::Array(windows)) => windows
                .iter()
                .map(|w| {
                    let start = instant(w, &["startDate", "start"])?;
                    let end = instant(w, &["endDate", "end"])?;
                    match (start, end) {
                        (Some(start_date), Some(end_date)) => Ok(PlannedMaintenance { start_date, end_date }),
                        _ => Err("a maintenance window lacks its start or end".to_owned()),
                    }
                })
                .collect::<Result<_, _>>()
                .map_err(with_id)?,
            Some(other) => return Err(with_id(format!("planned maintenance is not a list: {}", short(other)))),
        };
        Ok(Self {
            message_provider_activation_date: date(entry, &["messageProviderActivationDate", "activationDate"])
                .map_err(with_id)?,
            message_provider_deactivation_date: date(entry, &["messageProviderDeactivationDate", "deactivationDate"])
                .map_err(with_id)?,
            message_provider_planned_maintenance: maintenance,
            message_provider_name: field(entry, &["messageProviderName", "messageRegistryName", "name"])
                .and_then(Translated::read),
            api_version: ApiVersion::announced(
                text(entry, &["apiSupportedVersion", "apiVersion", "version"]).as_deref(),
                &url,
            ),
            message_provider_id: id,
            message_provider_url: url,
        })
    }

    pub fn state(&self, now: DateTime<Utc>) -> ProviderState {
        let today = now.date_naive();
        if self.message_provider_activation_date.is_some_and(|d| today < d) {
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

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(h) => h
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// A discovery entry that could not be read: that provider is skipped, the others go on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedProvider {
    /// Whatever id the entry carries.
    pub provider_id: Option<String>,
    pub reason: String,
}

/// What provider discovery found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    pub providers: Vec<MessageProvider>,
    pub skipped: Vec<SkippedProvider>,
}

impl Discovery {
    /// Either answer shape: a list of entries, or an object holding the list.
    pub fn read(answer: &Value) -> Result<Self, String> {
        let entries = match answer {
            Value::Array(list) => list,
            Value::Object(_) => match field(
                answer,
                &[
                    "items",
                    "messageRegistries",
                    "messageProviders",
                    "documentProviders",
                    "providers",
                    "registries",
                ],
            ) {
                Some(Value::Array(list)) => list,
                _ => return Err(format!("no list of providers in {}", short(answer))),
            },
            other => return Err(format!("not a list of providers: {}", short(other))),
        };
        let mut found = Discovery::default();
        for entry in entries {
            match MessageProvider::read(entry) {
                Ok(p)
                    if found
                        .providers
                        .iter()
                        .any(|q| q.message_provider_id == p.message_provider_id) =>
                {
                    found.skipped.push(SkippedProvider {
                        provider_id: Some(p.message_provider_id),
                        reason: "listed twice; the first entry is used".into(),
                    });
                }
                Ok(p) => found.providers.push(p),
                Err(reason) => found.skipped.push(SkippedProvider {
                    provider_id: text(entry, &["messageProviderId", "messageRegistryId", "providerId", "id"]),
                    reason,
                }),
            }
        }
        Ok(found)
    }
}

/// At most 200 characters of a JSON value, for error messages.
fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    pub digest_method: String,
    pub digest_value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attachment {
    /// As e-Box gave it, or one of our own (see `id_assigned`).
    pub attachment_id: String,
    /// e-Box gave no `attachmentId`; this one is derived from what it did give, so it is
    /// the same on every run.
    pub id_assigned: bool,
    /// As the sender named it.
    pub file_name: Option<String>,
    pub media_type: Option<String>,
    /// In kB, as the sender declared it: informational, never a check.
    pub size_kb: Option<f64>,
    pub main_content: bool,
    pub digest: Option<Digest>,
    pub signed: bool,
    pub title: Option<Translated>,
    /// Where the content is, when e-Box says so.
    pub content_href: Option<String>,
}

/// A message's attachments. Two that carry the same id would land under one key; the
/// later ones get ids of our own.
pub fn read_attachments(items: &[Value]) -> Vec<Attachment> {
    let mut seen = std::collections::HashSet::new();
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let a = Attachment::read(i, v);
            if seen.insert(a.attachment_id.clone()) {
                return a;
            }
            let mut own = v.clone();
            if let Some(o) = own.as_object_mut() {
                o.remove("attachmentId");
                o.remove("id");
            }
            Attachment::read(i, &own)
        })
        .collect()
}

impl Attachment {
    /// The `index`th attachment of a message, v2 or v3.
    pub fn read(index: usize, v: &Value) -> Self {
        let digest = field(v, &["digest"]).and_then(|d| serde_json::from_value::<Digest>(d.clone()).ok());
        let file_name = text(v, &["fileName", "filename", "name"]);
        let media_type = text(v, &["mediaType", "contentType", "mimeType"]);
        let content_href = text(v, &["contentHref", "href"]);
        let given = text(v, &["attachmentId", "id"]);
        let id_assigned = given.is_none();
        let attachment_id = given.unwrap_or_else(|| {
            // Only what identifies the attachment itself, never a link that may carry
            // something that changes between runs.
            let mut h = sha2::Sha256::new();
            for part in [
                file_name.as_deref().unwrap_or(""),
                media_type.as_deref().unwrap_or(""),
                digest.as_ref().map_or("", |d| d.digest_value.as_str()),
                content_href
                    .as_deref()
                    .map_or("", |u| u.split(['?', '#']).next().unwrap_or("")),
            ] {
                h.update(part.as_bytes());
                h.update([0]);
            }
            let hash = hex::encode(&h.finalize()[..6]);
            format!("n{}-{hash}", index + 1)
        });
        Self {
            attachment_id,
            id_assigned,
            file_name,
            media_type,
            size_kb: field(v, &["size"]).and_then(Value::as_f64),
            main_content: flag(v, &["mainContent", "isMainContent"]).unwrap_or(false),
            digest,
            signed: flag(v, &["attachmentSigned", "isAttachmentSigned", "isSigned", "signed"]).unwrap_or(false),
            title: field(v, &["attachmentTitle", "title"]).and_then(Translated::read),
            content_href,
        }
    }

    /// The SHA-256 e-Box announces, when it announces one we understand.
    pub fn expected_sha256(&self) -> Option<[u8; 32]> {
        use base64::Engine;
        let d = self.digest.as_ref().filter(|d| {
            let m = d.digest_method.to_ascii_lowercase().replace(['-', '_'], "");
            m == "sha256"
        })?;
        let value = d.digest_value.trim().trim_end_matches('=');
        let engine = if value.contains(['+', '/']) {
            &base64::engine::general_purpose::STANDARD_NO_PAD
        } else {
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
        };
        engine.decode(value).ok()?.try_into().ok()
    }

    /// The file name to store it under: the sender's, else the id.
    pub fn name(&self) -> &str {
        self.file_name.as_deref().unwrap_or(&self.attachment_id)
    }
}

/// The sender's organisation or application: its id, and its name when the message
/// itself carries one (v3 `sender` objects may).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Named {
    pub id: Option<String>,
    pub name: Option<Translated>,
}

impl Named {
    fn read(v: Option<&Value>) -> Self {
        match v {
            Some(v @ Value::Object(_)) => Self {
                id: text(v, &["id", "organizationId", "applicationId", "messageTypeId"]),
                name: field(
                    v,
                    &[
                        "name",
                        "shortName",
                        "organizationShortName",
                        "applicationName",
                        "messageTypeName",
                    ],
                )
                .and_then(Translated::read),
            },
            Some(v) => Self {
                id: scalar(v),
                name: None,
            },
            None => Self::default(),
        }
    }

    fn or(self, other: Named) -> Named {
        Named {
            id: self.id.or(other.id),
            name: self.name.or(other.name),
        }
    }
}

/// A message, normalised from v2 or v3.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub message_id: String,
    pub subject: Translated,
    pub receipt_date: Option<DateTime<Utc>>,
    pub expiration_date: Option<DateTime<Utc>>,
    pub read_status: Option<bool>,
    pub visible: Option<bool>,
    pub registered_mail: bool,
    pub message_type: Named,
    pub sender_organization: Named,
    pub sender_application: Named,
    pub for_the_attention_of: Option<Value>,
    /// Present (true or false) when e-Box says the message may have a body; only the
    /// body call tells whether it has one.
    pub body_main_content: Option<bool>,
    pub attachments: Vec<Attachment>,
    /// False when the listing held only part of the attachment list.
    pub attachments_whole: bool,
    pub payment_data: Option<Value>,
    pub business_data_list: Option<Value>,
    pub reply_authorized: bool,
    /// The v3 partition (sub-box) the message is in.
    pub partition: Option<String>,
}

impl Message {
    /// Reads v2 names, v3's `is`-prefixed booleans and `sender` object. Only `messageId`
    /// is required; a field of the wrong type counts as absent (the raw JSON keeps it).
    pub fn read(v: &Value) -> Result<Self, String> {
        if !v.is_object() {
            return Err("the item is not an object".into());
        }
        let message_id = text(v, MESSAGE_ID).ok_or("the item has no messageId")?;
        let sender = field(v, &["sender"]);
        let from_sender = |names: &[&str]| Named::read(sender.and_then(|s| field(s, names)));
        let sender_organization = Named::read(field(v, &["senderOrganizationId"]))
            .or(from_sender(&["organizationId", "organization", "senderOrganizationId"]))
            .or(sender
                .filter(|s| s.is_string())
                .map_or_else(Named::default, |s| Named::read(Some(s))));
        let sender_application = Named::read(field(v, &["senderApplicationId"])).or(from_sender(&[
            "applicationId",
            "application",
            "senderApplicationId",
        ]));
        let message_type = Named::read(field(v, &["messageTypeId"])).or(Named::read(field(v, &["messageType"])));
        // The listed attachments, and whether the list is whole: a paged list that counts
        // more than it holds, or one that is not a list, is asked for on its own.
        let (attachments, attachments_whole) = match field(v, &["attachments"]) {
            Some(Value::Array(items)) => (items.clone(), true),
            Some(a) => match field(a, &["items"]) {
                Some(Value::Array(items)) => {
                    let counted = field(a, &["totalItems"]).and_then(Value::as_u64);
                    (items.clone(), counted.is_none_or(|n| n as usize <= items.len()))
                }
                _ => (Vec::new(), false),
            },
            None => (Vec::new(), true),
        };
        let partition = match field(v, &["partition", "partitionId"]) {
            Some(p @ Value::Object(_)) => text(p, &["id", "partitionId", "name"]),
            Some(p) => scalar(p),
            None => None,
        };
        Ok(Self {
            subject: field(v, &["subject"]).and_then(Translated::read).unwrap_or_default(),
            receipt_date: instant(v, RECEIPT_DATE).ok().flatten(),
            expiration_date: instant(v, EXPIRATION_DATE).ok().flatten(),
            read_status: flag(v, &["readStatus", "isRead"]),
            visible: flag(v, &["visible", "isVisible"]),
            registered_mail: flag(v, &["registeredMail", "isRegisteredMail"]).unwrap_or(false),
            message_type,
            sender_organization,
            sender_application,
            for_the_attention_of: field(v, &["forTheAttentionOf"]).cloned(),
            body_main_content: flag(v, &["bodyMainContent", "isBodyMainContent"]),
            attachments: read_attachments(&attachments),
            attachments_whole,
            payment_data: field(v, &["paymentData"]).cloned(),
            business_data_list: field(v, &["businessDataList", "businessData"]).cloned(),
            reply_authorized: flag(v, &["replyAuthorized", "isReplyAuthorized"]).unwrap_or(false),
            partition,
            message_id,
        })
    }

    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }
}

/// A message as listed: parsed, and exactly as e-Box sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedMessage {
    pub message: Message,
    pub raw: Value,
}

/// A list item that is not a readable message: kept raw, reported, never dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct UnreadableItem {
    pub raw: Value,
    /// Whatever id it carries.
    pub message_id: Option<String>,
    pub receipt_date: Option<DateTime<Utc>>,
    pub reason: String,
}

impl UnreadableItem {
    /// The raw JSON as stored, and the hex SHA-256 that names it.
    pub fn stored_bytes(&self) -> (Vec<u8>, String) {
        let bytes = serde_json::to_vec(&self.raw).expect("JSON values serialise");
        let sha = hex::encode(sha2::Sha256::digest(&bytes));
        (bytes, sha)
    }
}

/// One item of a walk.
#[derive(Debug, Clone, PartialEq)]
pub enum Listed {
    Message(Box<ListedMessage>),
    Unreadable(UnreadableItem),
}

impl Listed {
    pub fn read(raw: Value) -> Self {
        match Message::read(&raw) {
            Ok(message) => Listed::Message(Box::new(ListedMessage { message, raw })),
            Err(reason) => Listed::Unreadable(UnreadableItem {
                message_id: if raw.is_object() { text(&raw, MESSAGE_ID) } else { None },
                receipt_date: if raw.is_object() {
                    instant(&raw, RECEIPT_DATE).ok().flatten()
                } else {
                    None
                },
                raw,
                reason,
            }),
        }
    }

    pub fn message_id(&self) -> Option<&str> {
        match self {
            Listed::Message(m) => Some(&m.message.message_id),
            Listed::Unreadable(u) => u.message_id.as_deref(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    #[serde(default)]
    pub items: Vec<Value>,
    #[serde(rename = "totalItems")]
    pub total_items: Option<u64>,
}

/// The three kinds of reference data behind the ids in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferenceKind {
    MessageType,
    SenderOrganization,
    SenderApplication,
}

impl ReferenceKind {
    /// The path segment under `/referenceData`.
    pub fn path(self) -> &'static str {
        match self {
            ReferenceKind::MessageType => "messageTypes",
            ReferenceKind::SenderOrganization => "senderOrganizations",
            ReferenceKind::SenderApplication => "senderApplications",
        }
    }

    pub(crate) fn id_fields(self) -> &'static [&'static str] {
        match self {
            ReferenceKind::MessageType => &["messageTypeId", "id"],
            ReferenceKind::SenderOrganization => &["organizationId", "senderOrganizationId", "id"],
            ReferenceKind::SenderApplication => &["applicationId", "senderApplicationId", "id"],
        }
    }

    pub(crate) fn name_fields(self) -> &'static [&'static str] {
        match self {
            ReferenceKind::MessageType => &["messageTypeName", "name"],
            ReferenceKind::SenderOrganization => &[
                "organizationShortName",
                "organizationName",
                "name",
                "organizationLongName",
            ],
            ReferenceKind::SenderApplication => &["applicationName", "name"],
        }
    }

    /// The id and name of one reference item.
    pub fn read_item(self, item: &Value) -> Option<(String, Translated)> {
        Some((
            text(item, self.id_fields())?,
            field(item, self.name_fields()).and_then(Translated::read)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn provider_states_follow_dates_and_maintenance() {
        let now: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().unwrap();
        let p = MessageProvider::read(&json!({
            "messageProviderId": "p", "messageProviderUrl": "https://x/",
            "messageProviderActivationDate": "2018-01-01",
            "messageProviderPlannedMaintenance": [{"startDate": "2026-11-28T08:00:00Z", "endDate": "2026-11-28T12:00:00Z"}],
            "somethingNew": 1
        }))
        .unwrap();
        assert_eq!(
            p.state(now),
            ProviderState::InMaintenance {
                until: "2026-11-28T12:00:00Z".parse().unwrap()
            }
        );
        assert_eq!(p.state("2026-11-28T12:00:00Z".parse().unwrap()), ProviderState::Active);
        let later = MessageProvider::read(
            &json!({"messageProviderId": "p", "messageProviderUrl": "https://u/", "messageProviderActivationDate": "2026-11-29"}),
        )
        .unwrap();
        assert_eq!(later.state(now), ProviderState::NotYetActive);
        let gone = MessageProvider::read(&json!({"messageProviderId": "p", "messageProviderUrl": "https://u/",
            "messageProviderActivationDate": "2017-01-01", "messageProviderDeactivationDate": "2026-11-28"}))
        .unwrap();
        assert_eq!(gone.state(now), ProviderState::Deactivated);
    }

    #[test]
    fn versions_come_from_the_announcement_or_the_url() {
        assert_eq!(ApiVersion::announced(Some("2.1"), "https://h/v3/"), ApiVersion::V2);
        assert_eq!(ApiVersion::announced(Some("v3"), "https://h/x/"), ApiVersion::V3);
        assert_eq!(ApiVersion::announced(Some("3.0.1"), "https://h/x/"), ApiVersion::V3);
        assert_eq!(
            ApiVersion::announced(None, "https://h/REST/ebox/enterprise/messageRegistry/v3/"),
            ApiVersion::V3
        );
        assert_eq!(
            ApiVersion::announced(Some("soon"), "https://h/messageRegistry/v2"),
            ApiVersion::V2
        );
        assert_eq!(ApiVersion::announced(None, "https://h/registry/"), ApiVersion::V2);
    }

    #[test]
    fn discovery_reads_both_shapes_and_skips_only_the_bad_entry() {
        let old = Discovery::read(&json!([
            {"messageProviderId": "a", "messageProviderUrl": "https://a/v2/", "messageProviderActivationDate": "2018-01-01", "apiSupportedVersion": "2.1"},
            {"messageProviderId": "b"},
            {"messageProviderId": "c", "messageProviderUrl": "not a url"},
            "nonsense",
            {"messageProviderId": "d", "messageProviderUrl": "https://d/", "messageProviderActivationDate": "someday"},
        ]))
        .unwrap();
        assert_eq!(old.providers.len(), 1);
        assert_eq!(old.providers[0].api_version, ApiVersion::V2);
        let skipped: Vec<Option<&str>> = old.skipped.iter().map(|s| s.provider_id.as_deref()).collect();
        assert_eq!(skipped, [Some("b"), Some("c"), None, Some("d")]);
        assert!(old.skipped[0].reason.contains("no URL"), "{:?}", old.skipped);
        let new = Discovery::read(&json!({"items": [
            {"id": "x", "url": "https://x/messageRegistry/v3/", "apiSupportedVersion": "3.0", "activationDate": "2024-01-01",
             "plannedMaintenances": [{"startDate": "2026-01-01T00:00:00Z", "endDate": "2026-01-02T00:00:00Z"}]},
        ], "totalItems": 1}))
        .unwrap();
        assert_eq!(new.providers[0].message_provider_id, "x");
        assert_eq!(new.providers[0].api_version, ApiVersion::V3);
        assert_eq!(new.providers[0].message_provider_planned_maintenance.len(), 1);
        assert!(Discovery::read(&json!({"error": "x"})).is_err());
    }

    #[test]
    fn v2_and_v3_messages_read_the_same() {
        let v2 = Message::read(&json!({
            "messageId": "m1", "subject": {"nl": "Onderwerp"}, "receiptDate": "2026-11-28T10:00:00Z",
            "expirationDate": "2027-02-28T10:00:00Z", "readStatus": false, "visible": true, "registeredMail": true,
            "messageTypeId": "attest", "senderOrganizationId": "0308357159", "senderApplicationId": "myminfin",
            "bodyMainContent": false, "replyAuthorized": false,
            "attachments": {"items": [{"attachmentId": "a1", "fileName": "f.pdf", "mediaType": "application/pdf",
                "size": 1.5, "mainContent": true, "attachmentSigned": true}], "totalItems": 1}
        }))
        .unwrap();
        let v3 = Message::read(&json!({
            "messageId": "m1", "subject": {"nl": "Onderwerp"}, "receiptDate": "2026-11-28T10:00:00Z",
            "expirationDate": "2027-02-28T10:00:00Z", "isRead": false, "isVisible": true, "isRegisteredMail": true,
            "messageTypeId": "attest", "sender": {"organizationId": "0308357159", "applicationId": "myminfin"},
            "isBodyMainContent": false, "isReplyAuthorized": false, "partition": "GENERAL",
            "attachments": {"items": [{"attachmentId": "a1", "fileName": "f.pdf", "mediaType": "application/pdf",
                "size": 1.5, "isMainContent": true, "isSigned": true}], "totalItems": 1}
        }))
        .unwrap();
        assert_eq!(v3.partition.as_deref(), Some("GENERAL"));
        assert_eq!(Message { partition: None, ..v3 }, v2);
        assert_eq!(v2.sender_organization.id.as_deref(), Some("0308357159"));
        assert_eq!(v2.body_main_content, Some(false));
        assert!(v2.registered_mail && v2.attachments[0].main_content && v2.attachments[0].signed);
    }

    #[test]
    fn only_the_message_id_is_needed() {
        let m = Message::read(
            &json!({"messageId": "m", "receiptDate": 12, "attachments": [{"contentHref": "https://h/c"}]}),
        )
        .unwrap();
        assert_eq!(m.receipt_date, None);
        assert_eq!(m.body_main_content, None);
        assert!(m.attachments_whole);
        assert!(m.attachments[0].id_assigned);
        let again =
            Message::read(&json!({"messageId": "m", "attachments": [{"contentHref": "https://h/c?sig=2"}]})).unwrap();
        assert_eq!(
            m.attachments[0].attachment_id, again.attachments[0].attachment_id,
            "stable"
        );
        assert!(Message::read(&json!({"subject": {"nl": "x"}})).is_err());
        assert!(Message::read(&json!(["x"])).is_err());
        match Listed::read(json!({"id-less": true, "receiptDate": "2026-01-02T00:00:00Z"})) {
            Listed::Unreadable(u) => {
                assert_eq!(u.reason, "the item has no messageId");
                assert!(u.receipt_date.is_some());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_part_of_the_attachments_and_ids_listed_twice_are_seen() {
        let partial = Message::read(
            &json!({"messageId": "m", "attachments": {"items": [{"attachmentId": "a"}], "totalItems": 2}}),
        )
        .unwrap();
        assert!(!partial.attachments_whole);
        let odd = Message::read(&json!({"messageId": "m", "attachments": "three"})).unwrap();
        assert!(!odd.attachments_whole);
        let twice = Message::read(&json!({"messageId": "m", "attachments": [
            {"attachmentId": "a", "fileName": "x.pdf", "contentHref": "https://h/1"},
            {"attachmentId": "a", "fileName": "x.pdf", "contentHref": "https://h/2"}]}))
        .unwrap();
        assert_eq!(twice.attachments[0].attachment_id, "a");
        assert!(twice.attachments[1].id_assigned && twice.attachments[1].attachment_id != "a");
    }

    #[test]
    fn providers_take_the_token_over_https_or_to_this_machine_only() {
        let read = |url: &str| MessageProvider::read(&json!({"id": "p", "url": url}));
        assert!(read("https://services.example/registry/").is_ok());
        assert!(read("http://127.0.0.1:8700/registries/p/v3/").is_ok());
        assert!(read("http://localhost/r/").is_ok());
        assert!(read("http://[::1]:9/r/").is_ok());
        assert!(read("http://services.example/registry/").is_err());
        assert!(read("ftp://x/").is_err());
    }

    #[test]
    fn digest_is_base64url_sha256() {
        let a = Attachment::read(
            0,
            &json!({
                "attachmentId": "a", "fileName": "f.pdf", "mediaType": "application/pdf", "size": 1.5, "mainContent": true,
                "digest": {"digestMethod": "sha_256", "digestValue": "LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564"}
            }),
        );
        let expected: [u8; 32] = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(b"foo")).into();
        assert_eq!(a.expected_sha256(), Some(expected));
    }
}
