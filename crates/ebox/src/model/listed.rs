//! What a walk yields: a readable message with its raw JSON, or an item that is not one,
//! kept raw and reported, never dropped.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sha2::Digest as _;

use super::message::Message;

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
            Err(reason) => {
                let (message_id, receipt_date) = super::message::clues(&raw);
                Listed::Unreadable(UnreadableItem {
                    message_id,
                    receipt_date,
                    raw,
                    reason,
                })
            }
        }
    }

    pub fn message_id(&self) -> Option<&str> {
        match self {
            Listed::Message(m) => Some(&m.message.message_id),
            Listed::Unreadable(u) => u.message_id.as_deref(),
        }
    }
}

/// One page of a list.
#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    #[serde(default)]
    pub items: Vec<Value>,
    #[serde(rename = "totalItems", default, deserialize_with = "super::sent::field")]
    pub total_items: Option<u64>,
}
