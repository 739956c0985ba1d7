//! An attachment's metadata, as either API version names it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::{ApiVersion, Content, Translated, segment};

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
