//! What the simulator holds: providers, e-Boxes, messages, attachments, reference data.
//! JSON is rendered with the field names of the published API descriptions.

mod attachment;
mod content;
mod message;
mod provider;
mod reference;

pub use attachment::Attachment;
pub use content::{CHUNK, Content, splitmix64};
pub use message::{Message, RawItem, RenderContext, Rendered};
pub use provider::{Maintenance, PartitionPlace, Provider};
pub use reference::{ReferenceData, ReferenceItem};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

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
    signed: "isAttachmentSigned",
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

    /// Where its reference data lies under the registry when the provider does not say:
    /// `refData` in v3 (the newer provider document), `referenceData` in v2 (the YAML).
    pub fn reference_path(self) -> &'static str {
        match self {
            ApiVersion::V2 => "referenceData",
            ApiVersion::V3 => "refData",
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

/// The partition a v3 message is in when none was given.
pub const DEFAULT_PARTITION: &str = "GENERAL";
