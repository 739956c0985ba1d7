//! A message's attachment metadata, v2 or v3.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest as _;

use super::sent::{Sent, Translated, wire};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    pub digest_method: String,
    pub digest_value: String,
}

wire! {
    /// One attachment entry as sent, under its v2 and v3 names (each a field of its own).
    struct Entry {
        attachment_id: Sent<String>,
        id: Sent<String>,
        file_name: Sent<String>,
        #[serde(rename = "filename")]
        file_name_lower: Sent<String>,
        name: Sent<String>,
        media_type: Sent<String>,
        content_type: Sent<String>,
        mime_type: Sent<String>,
        size: Option<f64>,
        main_content: Option<bool>,
        is_main_content: Option<bool>,
        digest: Option<Digest>,
        attachment_signed: Option<bool>,
        is_attachment_signed: Option<bool>,
        is_signed: Option<bool>,
        signed: Option<bool>,
        attachment_title: Sent<Translated>,
        title: Sent<Translated>,
        content_href: Sent<String>,
        href: Sent<String>,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attachment {
    /// As e-Box gave it, or one of our own (see `id_assigned`).
    pub attachment_id: String,
    /// e-Box gave no `attachmentId`; this one is derived from what it did give, so it is
    /// the same on every run.
    pub id_assigned: bool,
    /// Exactly as the sender named it: left out, `null`, `""` or a name.
    pub file_name: Sent<String>,
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

/// A value that says something: not empty, not only spaces.
fn given(s: Sent<String>) -> Option<String> {
    s.into_value().filter(|s| !s.trim().is_empty())
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
            Attachment::of(i, Entry::deserialize(v).unwrap_or_default(), true)
        })
        .collect()
}

impl Attachment {
    /// The `index`th attachment of a message, v2 or v3.
    pub fn read(index: usize, v: &Value) -> Self {
        // An entry that is not an object, or does not read, has nothing but its place.
        Self::of(index, Entry::deserialize(v).unwrap_or_default(), false)
    }

    fn of(index: usize, e: Entry, own_id: bool) -> Self {
        let file_name = e.file_name.or(e.file_name_lower).or(e.name);
        let media_type = given(e.media_type).or(given(e.content_type)).or(given(e.mime_type));
        let content_href = given(e.content_href).or(given(e.href));
        let given_id = given(e.attachment_id).or(given(e.id)).filter(|_| !own_id);
        let id_assigned = given_id.is_none();
        let attachment_id = given_id.unwrap_or_else(|| {
            // Only what identifies the attachment itself, never a link that may carry
            // something that changes between runs.
            let name = file_name.value().filter(|n| !n.trim().is_empty());
            let mut h = sha2::Sha256::new();
            for part in [
                name.map_or("", String::as_str),
                media_type.as_deref().unwrap_or(""),
                e.digest.as_ref().map_or("", |d| d.digest_value.as_str()),
                content_href
                    .as_deref()
                    .map_or("", |u| u.split(['?', '#']).next().unwrap_or("")),
            ] {
                h.update(part.as_bytes());
                h.update([0]);
            }
            format!("n{}-{}", index + 1, hex::encode(&h.finalize()[..6]))
        });
        Self {
            attachment_id,
            id_assigned,
            file_name,
            media_type,
            size_kb: e.size,
            main_content: e.main_content.or(e.is_main_content).unwrap_or(false),
            digest: e.digest,
            signed: [e.attachment_signed, e.is_attachment_signed, e.is_signed, e.signed]
                .into_iter()
                .flatten()
                .next()
                .unwrap_or(false),
            title: e.attachment_title.or(e.title).into_value(),
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

    /// The file name to store it under: the sender's when it names something, else the id.
    pub fn name(&self) -> &str {
        self.file_name
            .value()
            .filter(|n| !n.trim().is_empty())
            .map_or(&self.attachment_id, String::as_str)
    }
}
