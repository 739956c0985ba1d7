//! A fault-injecting HTTP/1.1 proxy between the AWS SDK and moto.
//!
//! moto always answers, and answers at once. Production code must also survive the other
//! answers AWS gives: throttling, 5xx, connections reset, and the worst one for a write,
//! an answer lost after the write took effect. The proxy forwards every request to moto
//! and, where a test asks for it with a [`Rule`], answers in the service's own error
//! format instead, drops the connection, or delays the answer; it can also take request
//! bodies slowly ([`FaultProxy::slow_intake`]). It logs every request, so
//! that a test can assert what the code under test sent, not only what it ended up with.
//!
//! The proxy runs on an OS thread of its own with its own runtime, so it keeps serving
//! whatever the test's thread does: block in a sync test, run a current-thread runtime,
//! or wait for a child process that talks through the proxy.
//!
//! ```no_run
//! use testkit::fault_proxy::{Fault, FaultProxy, Rule};
//! let proxy = FaultProxy::start("http://127.0.0.1:5000");
//! proxy.inject(Rule::on("dynamodb:PutItem").containing("LEDGER#").times(2).fault(Fault::Throttle));
//! // point the SDK at proxy.url() ...
//! assert_eq!(proxy.injected(), 2);
//! ```

mod answer;
mod classify;
mod rules;
mod server;

pub use rules::{Fault, Rule, RuleBuilder, operation_matches};

use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// What the proxy does to a request a [`Rule`] applies to.
/// What became of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded and answered as moto answered (also when a [`Fault::Delay`] held the
    /// answer back). Should moto be unreachable, the client gets a 502 and the status is
    /// `None`.
    Forwarded,
    /// Not forwarded: the named fault ([`Fault::name`]) answered instead.
    Injected(String),
    /// Forwarded, and moto's answer dropped ([`Fault::LostAnswer`]).
    LostAnswer,
}

/// One request as the proxy saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// The order in which requests arrived, from 0.
    pub seq: u64,
    /// `service:Operation`, such as `"s3:PutObject"` or `"dynamodb:Query"`.
    pub operation: String,
    /// S3: `bucket/key` (decoded) or `bucket`; DynamoDB: the table (`TableName`, else the
    /// first of `RequestItems` or `TransactItems`); Secrets Manager: the secret id;
    /// Lambda: the function; else empty.
    pub target: String,
    /// The items the request carries: a transaction's actions, a `PutEvents`' entries, a
    /// batch's requests or keys; else 1.
    pub items: usize,
    /// What moto answered; `None` when the request was not forwarded.
    pub status: Option<u16>,
    pub outcome: Outcome,
}

/// A rule with what it has counted so far.
struct Armed {
    rule: Rule,
    seen: usize,
    fired: usize,
}

#[derive(Default)]
struct State {
    rules: Vec<Armed>,
    /// Kept in arrival order (`seq`), though requests finish in any order.
    log: Vec<Exchange>,
    injected: usize,
    next_seq: u64,
    /// Bytes a second at which each request's body is taken, when set.
    intake: Option<u64>,
}

/// What the handle and the proxy's thread share.
struct Shared {
    state: Mutex<State>,
    /// Wakes sync waiters ([`FaultProxy::wait_for`]) when the log grows.
    logged: Condvar,
    /// Wakes async waiters ([`FaultProxy::wait_for_async`]) when the log grows.
    version: watch::Sender<u64>,
}

impl Shared {
    fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
            logged: Condvar::new(),
            version: watch::Sender::new(0),
        }
    }

    /// The state, also after a panic elsewhere: a test that failed must still be able to
    /// read the log and stop the proxy.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The rate at which request bodies are taken now ([`FaultProxy::slow_intake`]).
    fn intake(&self) -> Option<u64> {
        self.lock().intake
    }

    /// Numbers a request on arrival and picks its fault, if any, in one step, so that
    /// concurrent requests count against a rule exactly once each.
    fn admit(&self, operation: &str, text: &str) -> (u64, Option<Fault>) {
        let mut state = self.lock();
        let seq = state.next_seq;
        state.next_seq += 1;
        let mut fault = None;
        for armed in state.rules.iter_mut().filter(|a| a.rule.matches(operation, text)) {
            armed.seen += 1;
            let ready = armed.seen > armed.rule.after && armed.fired < armed.rule.times;
            if ready && fault.is_none() {
                armed.fired += 1;
                fault = Some(armed.rule.fault.clone());
            }
        }
        (seq, fault)
    }

    /// Logs a finished request and wakes whoever waits for the log.
    fn record(&self, exchange: Exchange) {
        {
            let mut state = self.lock();
            if !matches!(exchange.outcome, Outcome::Forwarded) {
                state.injected += 1;
            }
            let at = state.log.partition_point(|e| e.seq < exchange.seq);
            state.log.insert(at, exchange);
        }
        self.logged.notify_all();
        self.version.send_modify(|v| *v += 1);
    }
}

/// A running proxy; dropping it stops it.
pub struct FaultProxy {
    url: String,
    shared: Arc<Shared>,
    _server: crate::server_thread::ServerThread,
}

impl FaultProxy {
    /// Starts a proxy to `upstream_url` (`http://host:port`, moto's URL) on a free
    /// loopback port. The port is bound before this returns, so the proxy can be used at
    /// once: connections made before its thread runs wait in the listen queue.
    pub fn start(upstream_url: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port for the fault proxy");
        let addr = listener.local_addr().expect("the fault proxy's address");
        let shared = Arc::new(Shared::new());
        let server = server::spawn(listener, upstream_url, Arc::clone(&shared));
        Self {
            url: format!("http://{addr}"),
            shared,
            _server: server,
        }
    }

    /// Where clients reach the proxy: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Adds a rule after those already there; it applies from the next request on.
    pub fn inject(&self, rule: Rule) {
        self.shared.lock().rules.push(Armed {
            rule,
            seen: 0,
            fired: 0,
        });
    }

    /// From the next request on, each request's body is taken no faster than
    /// `bytes_per_second`: a service slow to accept uploads. The client meets it as TCP
    /// does, by its writes waiting; moto gets each body whole, as before.
    pub fn slow_intake(&self, bytes_per_second: u64) {
        assert!(bytes_per_second > 0, "a rate of intake above zero");
        self.shared.lock().intake = Some(bytes_per_second);
    }

    /// Removes every rule: from the next request on, everything is forwarded. The log stays.
    pub fn clear(&self) {
        self.shared.lock().rules.clear();
    }

    /// Every request so far, in arrival order.
    pub fn log(&self) -> Vec<Exchange> {
        self.shared.lock().log.clone()
    }

    /// How many faults were applied ([`Fault::LostAnswer`] included, [`Fault::Delay`] not).
    pub fn injected(&self) -> usize {
        self.shared.lock().injected
    }

    /// How many requests of an operation (a pattern as in [`Rule::on`]) moto carried out:
    /// forwarded and answered 2xx, whether or not the answer reached the client.
    pub fn count(&self, operation: &str) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            // Only forwarded requests have a status.
            .filter(|e| operation_matches(operation, &e.operation) && e.status.is_some_and(is_success))
            .count()
    }

    /// Blocks until the log satisfies `done` or `timeout` passes; whether it did. For
    /// waiting on progress made elsewhere (another thread, a child process) without sleeps.
    pub fn wait_for(&self, mut done: impl FnMut(&[Exchange]) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if done(&state.log) {
                return true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                return false;
            };
            state = self
                .shared
                .logged
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// [`FaultProxy::wait_for`] for async tests: it waits without blocking the runtime, so
    /// the requests it waits for can run on the same thread. Needs a runtime with time.
    pub async fn wait_for_async(&self, mut done: impl FnMut(&[Exchange]) -> bool, timeout: Duration) -> bool {
        // Subscribed before the first look, so that no change between look and wait is missed.
        let mut version = self.shared.version.subscribe();
        let waiting = async {
            loop {
                if done(&self.shared.lock().log) {
                    return;
                }
                if version.changed().await.is_err() {
                    // Cannot happen while `self`, which holds the sender, is borrowed; were
                    // it to, the log could not change any more and only the timeout can end.
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, waiting).await.is_ok()
    }
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_exactly_by_prefix_or_everything() {
        assert!(operation_matches("*", "s3:PutObject"));
        assert!(operation_matches("s3:*", "s3:PutObject"));
        assert!(!operation_matches("s3:*", "dynamodb:PutItem"));
        assert!(operation_matches("dynamodb:PutItem", "dynamodb:PutItem"));
        assert!(!operation_matches("dynamodb:Put", "dynamodb:PutItem"));
    }

    #[test]
    fn rules_count_their_matches_and_the_first_armed_applies() {
        let shared = Shared::new();
        let rule = |after, fault| Rule::on("s3:*").containing("b/").after(after).times(1).fault(fault);
        shared.lock().rules.push(Armed {
            rule: rule(1, Fault::Reset),
            seen: 0,
            fired: 0,
        });
        shared.lock().rules.push(Armed {
            rule: rule(0, Fault::Throttle),
            seen: 0,
            fired: 0,
        });
        assert_eq!(shared.admit("s3:PutObject", "a/x"), (0, None));
        assert_eq!(shared.admit("s3:PutObject", "b/x"), (1, Some(Fault::Throttle)));
        assert_eq!(shared.admit("s3:GetObject", "b/x"), (2, Some(Fault::Reset)));
        assert_eq!(shared.admit("s3:GetObject", "b/x"), (3, None));
    }

    #[test]
    fn the_log_stays_in_arrival_order() {
        let shared = Shared::new();
        for seq in [1, 0, 2] {
            shared.record(Exchange {
                seq,
                operation: "s3:GetObject".into(),
                target: String::new(),
                items: 1,
                status: None,
                outcome: Outcome::Injected("Reset".into()),
            });
        }
        let state = shared.lock();
        assert_eq!(state.log.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(state.injected, 3);
    }
}
