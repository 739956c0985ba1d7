//! What the proxy is asked to do: a [`Fault`], on the requests a [`Rule`] matches.

use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Not forwarded; a 500 in the service's format (`InternalServerError`,
    /// `InternalError`, `InternalServiceError`), which the SDK retries.
    ServerError,
    /// Not forwarded; the service's throttling answer (DynamoDB and Secrets Manager 400
    /// `ThrottlingException`, S3 503 `SlowDown`), which the SDK retries.
    Throttle,
    /// Not forwarded; a 503 `ServiceUnavailable`.
    Unavailable,
    /// Not forwarded; the connection is reset without an answer.
    Reset,
    /// Forwarded, so the request takes effect in moto, then the connection is reset
    /// without an answer: the client cannot tell this from [`Fault::Reset`].
    LostAnswer,
    /// Not forwarded; EventBridge's answer to a `PutEvents` whose every entry failed
    /// inside a successful call (200, `FailedEntryCount` = the number of entries).
    EntriesFailed,
    /// Forwarded, and moto's answer held back this long: a slow service. Not a fault in
    /// the log: its outcome is [`Outcome::Forwarded`] and [`FaultProxy::injected`] does
    /// not count it.
    Delay(Duration),
}

impl Fault {
    /// The name the log gives the fault in [`Outcome::Injected`].
    pub fn name(&self) -> &'static str {
        match self {
            Fault::ServerError => "ServerError",
            Fault::Throttle => "Throttle",
            Fault::Unavailable => "Unavailable",
            Fault::Reset => "Reset",
            Fault::LostAnswer => "LostAnswer",
            Fault::EntriesFailed => "EntriesFailed",
            Fault::Delay(_) => "Delay",
        }
    }
}

/// Which requests get a fault, and how many of them.
///
/// Every rule counts the requests it matches; a rule is armed once it has let its
/// [`after`](RuleBuilder::after) requests pass, and stays armed for
/// [`times`](RuleBuilder::times) faults. Of the rules armed for a request, the first one
/// added applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub(super) operation: String,
    pub(super) containing: Option<String>,
    pub(super) after: usize,
    pub(super) times: usize,
    pub(super) fault: Fault,
}

/// A [`Rule`] being written; [`RuleBuilder::fault`] finishes it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "a rule does nothing until .fault(..) finishes it and it is injected"]
pub struct RuleBuilder {
    operation: String,
    containing: Option<String>,
    after: usize,
    times: usize,
}

impl Rule {
    /// A rule for one operation (`"dynamodb:PutItem"`), all of a service's (`"s3:*"`: a
    /// trailing `*` is a prefix), or every request (`"*"`).
    pub fn on(operation: &str) -> RuleBuilder {
        RuleBuilder {
            operation: operation.to_owned(),
            containing: None,
            after: 0,
            times: 1,
        }
    }

    pub(super) fn matches(&self, operation: &str, text: &str) -> bool {
        operation_matches(&self.operation, operation) && self.containing.as_ref().is_none_or(|c| text.contains(c))
    }
}

impl RuleBuilder {
    /// Only requests whose target contains this: S3's decoded `bucket/key`, or the JSON
    /// body of a DynamoDB or Secrets Manager request (a table name, a key prefix such as
    /// `"LEDGER#"`, a secret's name).
    pub fn containing(mut self, text: &str) -> Self {
        self.containing = Some(text.to_owned());
        self
    }

    /// Lets the first `n` matching requests pass untouched.
    pub fn after(mut self, n: usize) -> Self {
        self.after = n;
        self
    }

    /// How many requests get the fault (1 unless told).
    pub fn times(mut self, n: usize) -> Self {
        self.times = n;
        self
    }

    /// The fault, which finishes the rule.
    pub fn fault(self, fault: Fault) -> Rule {
        Rule {
            operation: self.operation,
            containing: self.containing,
            after: self.after,
            times: self.times,
            fault,
        }
    }
}

/// Whether an operation name matches a pattern: exact, `"*"`, or a prefix ending in `*`.
pub fn operation_matches(pattern: &str, operation: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => operation.starts_with(prefix),
        None => pattern == operation,
    }
}
