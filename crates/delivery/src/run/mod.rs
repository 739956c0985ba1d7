//! A run of one entity as data: what it is asked ([`FetchRequest`]), what it says
//! ([`RunReport`]: the fetch function's answer, a log line, the stored last run), and what a
//! stored one still gives. Fetch writes it; the fleet count and the CLI's status read it.

mod health;
mod report;
mod request;
mod stored;

pub use health::{changed as health_changed, of_run as health_of_run};
pub use report::*;
pub use request::FetchRequest;
pub use stored::{STATUS_INTERVAL, StoredRun, previous_run};
