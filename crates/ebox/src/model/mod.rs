//! The consultation schemas of the Message Registry (v2 and v3) and of provider
//! discovery, read with serde into one normalised form. Every field but the message id is
//! optional, unknown fields are ignored, a field of the wrong type counts as left out,
//! and the raw JSON of every message is kept beside its parsed form, so nothing e-Box
//! sent is dropped. Fields that `message.json` copies keep absent, `null` and empty
//! apart ([`Sent`]).

mod attachment;
mod discovery;
mod listed;
mod message;
mod named;
mod provider;
mod reference;
mod sent;

pub use attachment::{Attachment, Digest, read_attachments};
pub use discovery::{Discovery, SkippedProvider};
pub(crate) use listed::Page;
pub use listed::{Listed, ListedMessage, UnreadableItem};
pub use message::Message;
pub use named::Named;
pub use provider::{ApiVersion, MessageProvider, PlannedMaintenance, ProviderState};
pub use reference::ReferenceKind;
pub use sent::{Sent, Translated, parse_instant};

use serde_json::Value;

/// At most 200 characters of a JSON value, for error messages.
pub(crate) fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s,
    }
}
