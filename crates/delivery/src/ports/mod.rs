//! The engine's view of the world: one narrow trait per capability. Each storage trait has
//! an AWS implementation ([`crate::aws`]) and an in-memory twin (`testkit::memory`), one
//! conformance suite (`tests/adapters.rs`) runs against both; e-Box's twin reads the
//! simulator in process (`testkit::twin`), and the engine tests run on both.

mod answers;
mod connections;
mod dispatch;
mod events;
mod mailbox;
mod objects;
mod secrets;
mod state;

pub use answers::*;
pub use connections::*;
pub use dispatch::*;
pub use events::*;
pub use mailbox::*;
pub use objects::*;
pub use secrets::*;
pub use state::*;

/// Lower-case hex, as digests are written everywhere in this project.
pub use hex::encode as hex;

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure of a storage call. It names the operation and what it was about, and says
/// whether trying again later can help (throttling, timeouts, 5xx) or not.
#[derive(Debug, thiserror::Error)]
#[error("{operation} {target}: {message}")]
pub struct StoreError {
    pub operation: &'static str,
    pub target: String,
    pub message: String,
    pub retryable: bool,
    /// Refused because another run has taken the entity's lease: this one must stop writing.
    pub lease_lost: bool,
    #[source]
    pub source: Option<BoxError>,
}

impl StoreError {
    pub fn new(operation: &'static str, target: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            operation,
            target: target.into(),
            message: message.into(),
            retryable: false,
            lease_lost: false,
            source: None,
        }
    }

    /// The same error again, for each of several writes one request failed (without its source).
    pub fn again(&self) -> Self {
        Self {
            operation: self.operation,
            target: self.target.clone(),
            message: self.message.clone(),
            retryable: self.retryable,
            lease_lost: self.lease_lost,
            source: None,
        }
    }

    /// A write refused by its fence: the run's lease is gone. The next run does it.
    pub fn lease_lost(operation: &'static str, target: impl Into<String>) -> Self {
        Self {
            retryable: true,
            lease_lost: true,
            ..Self::new(operation, target, "the run no longer holds the entity's lease")
        }
    }
}
