//! A run of one entity as data: what it is asked ([`FetchRequest`]), what it says
//! ([`RunReport`], the fetch function's answer, one log line, and the entity's stored
//! last run), and what a stored one still gives. Below the use cases: fetch writes it;
//! fanout's fleet count, `status` and `certificate status` read it.

mod health;
mod report;
mod request;
mod stored;

pub use health::{changed as health_changed, of_run as health_of_run};
pub use report::*;
pub use request::FetchRequest;
pub use stored::{STATUS_INTERVAL, StoredRun, previous_run};
