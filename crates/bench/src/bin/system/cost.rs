//! What a month costs: each kind of run's measured requests, time and log bytes, times
//! the month's runs, at AWS's list prices for eu-west-1 (named in the output).
//!
//! The month: the Terraform default schedule, `cron(0 6-20 ? * MON-FRI *)` (15 ticks a
//! weekday, 21.7 weekdays), so 326 runs an entity; 20 messages an entity a weekday,
//! 434 a month. A run costs what an idle run costs, and each message what a message of
//! the measured first run cost on top.

use std::collections::BTreeMap;

use bench::Row;

const RUNS_PER_MONTH: f64 = 15.0 * 21.7;
const MESSAGES_PER_MONTH: f64 = 20.0 * 21.7;
const FETCH_GB: f64 = 256.0 / 1024.0;
/// fanout: its fixed time a tick, and per connection (the fanout scenario measures 0.36 ms).
const FANOUT_MS: (f64, f64) = (100.0, 0.36);

/// List prices, eu-west-1, in dollars.
const LAMBDA_GB_S: f64 = 0.000_013_333_4;
const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
const S3_PUT: f64 = 0.005 / 1e3;
const S3_GET: f64 = 0.0004 / 1e3;
const S3_GB_MONTH: f64 = 0.023;
const DYNAMODB_WRU: f64 = 0.7625 / 1e6;
const DYNAMODB_RRU: f64 = 0.1525 / 1e6;
const EVENTS: f64 = 1.00 / 1e6;
const SECRET_MONTH: f64 = 0.40;
const SECRETS_CALL: f64 = 0.05 / 1e4;
const LOGS_GB: f64 = 0.57;
/// EMF metrics have no per-entity dimension: a fixed set, whatever the fleet's size.
const METRICS: (f64, f64) = (20.0, 0.30);

pub const PRICES: &str = "eu-west-1 list prices: Lambda arm64 $0.0000133334/GB-s + $0.20/M requests; S3 $0.005/1k PUT, $0.0004/1k GET, $0.023/GB-month; DynamoDB on-demand $0.7625/M WRU, $0.1525/M RRU; EventBridge $1/M events; Secrets Manager $0.40/secret-month + $0.05/10k calls; CloudWatch Logs $0.57/GB, metrics $0.30 each";

/// What one run (or one message) uses of each priced thing.
#[derive(Clone, Debug, Default)]
pub struct RunCost {
    pub function_ms: f64,
    pub s3_puts: f64,
    pub s3_gets: f64,
    pub stored_bytes: f64,
    pub write_units: f64,
    pub read_units: f64,
    pub events: f64,
    pub secret_calls: f64,
    pub log_bytes: f64,
}

impl RunCost {
    /// From the AWS operations a run made, each with the items it carried. Capacity units:
    /// a write or a batch write's request 1 WRU, a transaction 2 per item (a fenced write is
    /// two items: 4), a read, a batch read's key or a query page 1 RRU; EventBridge bills
    /// each entry of a `PutEvents` as an event.
    pub fn from_operations(operations: &[(String, usize)], wall_ms: f64, log_bytes: f64) -> Self {
        let mut c = RunCost {
            function_ms: wall_ms,
            log_bytes,
            ..RunCost::default()
        };
        for (op, items) in operations {
            let items = *items as f64;
            match op.as_str() {
                "s3:PutObject" => c.s3_puts += 1.0,
                "s3:GetObject" | "s3:HeadObject" => c.s3_gets += 1.0,
                "dynamodb:PutItem" | "dynamodb:UpdateItem" | "dynamodb:DeleteItem" => c.write_units += 1.0,
                "dynamodb:TransactWriteItems" => c.write_units += 2.0 * items,
                "dynamodb:BatchWriteItem" => c.write_units += items,
                o if o.starts_with("dynamodb:") => c.read_units += items,
                "events:PutEvents" => c.events += items,
                o if o.starts_with("secretsmanager:") => c.secret_calls += 1.0,
                _ => {}
            }
        }
        c
    }

    pub fn scaled(self, f: f64) -> Self {
        RunCost {
            function_ms: self.function_ms * f,
            s3_puts: self.s3_puts * f,
            s3_gets: self.s3_gets * f,
            stored_bytes: self.stored_bytes * f,
            write_units: self.write_units * f,
            read_units: self.read_units * f,
            events: self.events * f,
            secret_calls: self.secret_calls * f,
            log_bytes: self.log_bytes * f,
        }
    }
}

/// The AWS operations of a run, counted: `PutObject 900, PutItem 600, ...`.
pub fn by_operation(operations: &[(String, usize)]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (op, _) in operations {
        *counts.entry(op.split(':').nth(1).unwrap_or(op)).or_default() += 1;
    }
    let mut sorted: Vec<_> = counts.into_iter().collect();
    sorted.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    sorted
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The month of `entities`, item by item, in dollars.
fn month(entities: f64, message: &RunCost, idle: &RunCost) -> Vec<(&'static str, f64)> {
    let (runs, messages) = (RUNS_PER_MONTH * entities, MESSAGES_PER_MONTH * entities);
    let use_of = |f: fn(&RunCost) -> f64| runs * f(idle) + messages * f(message);
    let fetch_s = use_of(|c| c.function_ms) / 1000.0;
    let fanout_s = RUNS_PER_MONTH * (FANOUT_MS.0 + FANOUT_MS.1 * entities) / 1000.0;
    vec![
        (
            "Secrets Manager (one secret an entity)",
            entities * SECRET_MONTH + (runs + use_of(|c| c.secret_calls)) * SECRETS_CALL,
        ),
        (
            "S3 requests and a month's new mail stored",
            use_of(|c| c.s3_puts) * S3_PUT
                + use_of(|c| c.s3_gets) * S3_GET
                + use_of(|c| c.stored_bytes) / 1e9 * S3_GB_MONTH,
        ),
        (
            "DynamoDB on-demand",
            use_of(|c| c.write_units) * DYNAMODB_WRU + use_of(|c| c.read_units) * DYNAMODB_RRU,
        ),
        (
            "Lambda (fetch and fanout)",
            (fetch_s + fanout_s) * FETCH_GB * LAMBDA_GB_S + (runs + RUNS_PER_MONTH) * LAMBDA_REQUEST,
        ),
        (
            "CloudWatch logs and metrics",
            use_of(|c| c.log_bytes) / 1e9 * LOGS_GB + METRICS.0 * METRICS.1,
        ),
        ("EventBridge events", use_of(|c| c.events) * EVENTS),
    ]
}

/// The cost rows: the month of 100, 1,000 and 10,000 entities, and what the bill is made of.
pub fn table(message: &RunCost, idle: &RunCost) -> Vec<Row> {
    let mut rows = vec![Row::note(format!(
        "a month: {RUNS_PER_MONTH:.0} runs and {MESSAGES_PER_MONTH:.0} messages an entity ({PRICES})"
    ))];
    for entities in [100.0, 1_000.0, 10_000.0] {
        let mut items = month(entities, message, idle);
        let total: f64 = items.iter().map(|(_, d)| d).sum();
        items.sort_by(|a, b| b.1.total_cmp(&a.1));
        let parts: Vec<String> = items.iter().map(|(name, d)| format!("{name} ${d:.2}")).collect();
        rows.push(
            Row::figure(
                format!("monthly AWS cost, {entities:.0} entities"),
                format!("${total:.2}"),
            )
            .goal(format!("biggest: {}", items[0].0)),
        );
        rows.push(Row::note(format!("  {}", parts.join("; "))));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_units_and_events_follow_the_items_a_request_carries() {
        let ops: Vec<(String, usize)> = [
            ("dynamodb:PutItem", 1),
            ("dynamodb:TransactWriteItems", 3),
            ("dynamodb:BatchWriteItem", 4),
            ("dynamodb:BatchGetItem", 5),
            ("dynamodb:Query", 1),
            ("events:PutEvents", 7),
            ("s3:PutObject", 1),
        ]
        .into_iter()
        .map(|(op, n)| (op.to_owned(), n))
        .collect();
        let c = RunCost::from_operations(&ops, 10.0, 0.0);
        assert_eq!(c.write_units, 1.0 + 6.0 + 4.0);
        assert_eq!(c.read_units, 5.0 + 1.0);
        assert_eq!(c.events, 7.0);
        assert_eq!(c.s3_puts, 1.0);
    }
}
