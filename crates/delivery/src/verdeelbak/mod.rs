//! The verdeelbak contract: what downstream systems read. Keys are built by pure code
//! from ids alone ([`keys`]); `message.json` is the complete, normalised record of one
//! message ([`message_json`]). A change here is a change of the contract: its version is
//! in [`message_json::MESSAGE_SCHEMA`], and the README says what changed. The event
//! published per delivered message ([`event`]) is derived from `message.json`.

pub mod event;
pub mod keys;
pub mod message_json;
