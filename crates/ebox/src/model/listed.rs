//! What a walk yields: a readable message with its raw JSON, or an item that is not one,
//! kept raw and reported, never dropped.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::Digest as _;

use super::message::Message;

/// A message as listed: parsed, and exactly as e-Box sent it. The item is kept as its
/// text, not as a parsed tree, which would take several times its size for as long as its
/// page is in the pipeline.
#[derive(Debug, Clone)]
pub struct ListedMessage {
    pub message: Message,
    pub raw: Box<RawValue>,
}

impl PartialEq for ListedMessage {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message && self.raw.get() == other.raw.get()
    }
}

/// A list item that is not a readable message: kept raw, reported, never dropped.
#[derive(Debug, Clone)]
pub struct UnreadableItem {
    pub raw: Box<RawValue>,
    /// Whatever id it carries.
    pub message_id: Option<String>,
    pub receipt_date: Option<DateTime<Utc>>,
    pub reason: String,
}

impl PartialEq for UnreadableItem {
    fn eq(&self, other: &Self) -> bool {
        (&self.message_id, &self.receipt_date, &self.reason) == (&other.message_id, &other.receipt_date, &other.reason)
            && self.raw.get() == other.raw.get()
    }
}

impl UnreadableItem {
    /// The raw JSON as stored, and the hex SHA-256 that names it: compact, with the keys of
    /// each object in order, so an item named by an earlier run keeps its name whatever
    /// spacing or key order e-Box sends it with.
    /// An item that is JSON but no value here can hold (a number beyond a float's range)
    /// is stored as it came.
    pub fn stored_bytes(&self) -> (Vec<u8>, String) {
        let bytes = match self.value() {
            Some(value) => serde_json::to_vec(&value).expect("JSON values serialise"),
            None => self.raw.get().as_bytes().to_vec(),
        };
        let sha = hex::encode(sha2::Sha256::digest(&bytes));
        (bytes, sha)
    }

    /// The item as a JSON value, when one can hold it.
    pub fn value(&self) -> Option<Value> {
        serde_json::from_str(self.raw.get()).ok()
    }
}

/// One item of a walk.
#[derive(Debug, Clone, PartialEq)]
pub enum Listed {
    Message(Box<ListedMessage>),
    Unreadable(UnreadableItem),
}

impl Listed {
    /// The item as e-Box sent it, read: a message, or an item that is not one.
    pub fn read(raw: Box<RawValue>) -> Self {
        // Parsed for the reading only; what stays is the message and the text. Valid JSON
        // that no value holds (a number beyond a float's range) is an item not read.
        let value: Value = match serde_json::from_str(raw.get()) {
            Ok(value) => value,
            Err(e) => {
                return Listed::Unreadable(UnreadableItem {
                    raw,
                    message_id: None,
                    receipt_date: None,
                    reason: format!("the item cannot be read: {e}"),
                });
            }
        };
        match Message::read(&value) {
            Ok(message) => Listed::Message(Box::new(ListedMessage { message, raw })),
            Err(reason) => {
                let (message_id, receipt_date) = super::message::clues(&value);
                Listed::Unreadable(UnreadableItem {
                    message_id,
                    receipt_date,
                    raw,
                    reason,
                })
            }
        }
    }

    /// An item given as a JSON value (as a test or a twin holds one).
    pub fn from_value(value: &Value) -> Self {
        Self::read(serde_json::value::to_raw_value(value).expect("JSON values serialise"))
    }

    pub fn message_id(&self) -> Option<&str> {
        match self {
            Listed::Message(m) => Some(&m.message.message_id),
            Listed::Unreadable(u) => u.message_id.as_deref(),
        }
    }
}

/// One page of a list: its items as values, or (a message list) as their text.
#[derive(Debug, Deserialize)]
pub(crate) struct Page<T = Value> {
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    #[serde(rename = "totalItems", default, deserialize_with = "super::sent::field")]
    pub total_items: Option<u64>,
}
