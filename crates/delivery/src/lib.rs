//! The sync engine of digipost-ebox.
//!
//! The engine talks to the world through narrow ports ([`ports`]); [`aws`] implements them
//! against DynamoDB, S3 and Secrets Manager; `testkit::memory` implements them in memory
//! for fast tests. The same conformance tests run against both, so the twins cannot drift.

pub mod admin;
pub mod aws;
pub mod config;
pub mod connection_status;
pub mod entity;
pub mod events;
pub mod fanout;
pub mod fetch;
pub mod fleet;
#[cfg(feature = "lambda")]
pub mod handlers;
pub mod health;
pub mod metrics;
pub mod onboard;
pub mod onboarding;
pub mod ports;
pub mod probe;
pub mod rotation;
pub mod run;
pub mod schema;
pub mod secret;
pub mod secrets_cache;
pub mod stack;
pub mod stores;
pub mod verdeelbak;
pub mod wiring;

pub use entity::EntityId;
