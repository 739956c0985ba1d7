//! The fetch use case: deliver one entity's e-Box into its verdeelbak, exactly once.
//!
//! Steps: check the entity id; load the connection; read the entity's state (lease,
//! cursors, last run) in one query; resolve the key material; get a token; list the
//! providers; walk each active provider from its cursor (overlapping the previous walk, as
//! e-Box filters on dates); deliver each message neither the cursor nor the ledger knows
//! (attachments and body first, `message.json` last, then the ledger row); advance the
//! cursor after a complete walk, never past an undelivered message; release the lease;
//! store the status.
//!
//! The lease is taken the first time the run is about to write, so a run with nothing new
//! writes nothing: two DynamoDB reads and one e-Box listing per provider.
//!
//! - `run`: one run of one entity, told as the steps it hands each part to (the request
//!   and the report themselves are [`crate::run`]'s). Each step holds only its ports:
//!   - `session` (`Opening`): the credentials, a token and provider discovery;
//!   - `walk` (`Walker`): one provider's walk: stream, tally, next cursor, write;
//!     `identity`: which registry a discovered provider is, whatever discovery calls it;
//!   - `deliver` (`Deliverer`): one message into the verdeelbak, with `attachment`, `body`,
//!     `spool` (attachments without a digest), `retrieval` (when the main content was
//!     first retrieved) and `unreadable` (an item kept raw);
//!   - `outbox` (`Publisher`): each delivered message's event, published after its row;
//!   - `lease` (`LazyLease`): the lease, taken at the first write, gating every write;
//!   - `status` (`Closing`): the status and the connection's health, then the lease goes;
//! - `outcome` and `failure`: what the steps hand each other, and why a message was not
//!   delivered; `tally`, `cursor`, `reconcile` and `status_due`: the pure rules of what a
//!   walk saw, where its cursor goes, when a reconcile is due and a status is stored.

mod attachment;
mod body;
pub mod credentials;
mod cursor;
mod deliver;
mod failure;
mod identity;
mod lease;
mod outbox;
mod outcome;
mod reconcile;
mod record;
mod retrieval;
mod run;
mod session;
mod spool;
mod stages;
mod status;
mod tally;
mod unreadable;
mod walk;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use crate::run::*;

use crate::ports::*;
use crate::stores::Stores;

#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// Messages of one entity delivered at once.
    pub concurrency: usize,
    /// How long a lease holds. A run renews it every quarter of this while it works, so
    /// this is how long a run that died blocks its entity.
    pub lease_duration: chrono::Duration,
    /// No new message is started when less than this is left.
    pub time_margin: Duration,
    /// How far each walk reaches back before the cursor's day.
    pub overlap: chrono::Duration,
    /// Where attachments without a digest are hashed before upload.
    pub spool_dir: PathBuf,
    /// A run that changed nothing stores its status only when the stored one is older than
    /// this (or says something else), so an idle entity costs no write on most ticks.
    pub status_interval: chrono::Duration,
    /// How long the cursor waits for a list item that is not a readable message, so that
    /// each walk looks at it again (a registry may mend it); then it moves on, leaving the
    /// raw copy and the `Unreadable` metric.
    pub unreadable_hold: chrono::Duration,
    /// How often each entity's walk lists everything e-Box holds instead of only what is
    /// after its cursor, and compares it with the ledger (at a moment of the interval of
    /// the entity's own); `None`: only when asked for.
    pub reconcile_interval: Option<chrono::Duration>,
}

/// The most delivered messages a cursor remembers (see [`Cursor::recent`]); beyond it the
/// oldest are asked of the ledger again. About 60 bytes each in the cursor's item.
pub const RECENT_LIMIT: usize = 2000;

impl Default for FetchSettings {
    fn default() -> Self {
        Self {
            concurrency: 8,
            lease_duration: chrono::Duration::minutes(2),
            time_margin: Duration::from_secs(30),
            overlap: chrono::Duration::days(2),
            spool_dir: std::env::temp_dir(),
            status_interval: crate::run::STATUS_INTERVAL,
            unreadable_hold: chrono::Duration::days(3),
            reconcile_interval: Some(chrono::Duration::days(1)),
        }
    }
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Everything fetch needs, built once per process.
#[derive(Clone)]
pub struct Fetcher {
    pub connections: Arc<dyn ConnectionReader>,
    pub stores: Stores,
    pub objects: Arc<dyn ObjectStore>,
    pub secrets: Arc<dyn SecretStore>,
    pub ebox: Arc<dyn EboxService>,
    pub events: Arc<dyn EventBus>,
    pub clock: Arc<dyn Clock>,
    pub settings: FetchSettings,
}
