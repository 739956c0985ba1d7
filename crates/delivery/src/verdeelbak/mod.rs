//! The verdeelbak contract, what downstream systems read: keys built from ids alone
//! ([`keys`]), `message.json`, the complete record of one message ([`message_json`]), and
//! the event derived from it ([`event`]). A change here changes the contract: its version is
//! in [`message_json::MESSAGE_SCHEMA`], and the README says what changed.

pub mod event;
pub mod keys;
pub mod message_json;
