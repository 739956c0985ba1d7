//! What a check of an entity with nothing new costs, warm: requests to e-Box and to each
//! AWS service, writes, new connections, and CPU time.

use std::collections::BTreeMap;

use bench::Row;
use delivery::fetch::Outcome;
use ebox_sim::data::Scenario;

use crate::procfs::{connections_to, cpu_ms};
use crate::world::{ENTITY, Stores, World, request, world};

pub const TITLE: &str = "idle entity, warm process, moto stores";

/// Checks measured, each counted on its own.
const RUNS: usize = 20;

/// DynamoDB operations that write nothing.
const READS: &[&str] = &["GetItem", "Query", "BatchGetItem", "Scan"];

/// What the idle checks cost.
struct Idle {
    /// Per figure ("ebox", "secretsmanager", "dynamodb", "writes", "s3"), one value a check.
    figures: BTreeMap<&'static str, Vec<u64>>,
    /// DynamoDB requests per operation ("dynamodb:Query"), over all the checks.
    operations: BTreeMap<String, u64>,
    cpu_per_run: f64,
    new_ebox: u64,
    new_aws: usize,
}

impl Idle {
    fn median(&self, figure: &str) -> u64 {
        let mut v = self.figures[figure].clone();
        v.sort_unstable();
        v[v.len() / 2]
    }

    fn at_most(&self, name: &str, figure: &str, limit: u64) -> Row {
        let median = self.median(figure);
        Row::figure(name, median.to_string())
            .goal(if limit == 0 { "0".into() } else { format!("<= {limit}") })
            .at_most(median, limit)
    }
}

pub async fn rows() -> Vec<Row> {
    let w = world(Stores::MotoCounted, 0).await;
    w.sim.generate(&Scenario {
        seed: 3,
        enterprises: vec![ENTITY.into()],
        messages_per_enterprise: 30,
        attachments_per_message: 1,
        attachment_size: 10_000,
        providers: vec![],
    });
    assert_eq!(w.fetcher.run(&request(), None).await.outcome, Outcome::Ok);
    let idle = measure(&w).await;
    report(&idle, w.fetcher.settings.status_interval.num_minutes())
}

/// Warm and nothing new: what does a check cost? Several checks, each counted on its
/// own; the median of each figure, and the CPU time of all of them together (the
/// process clock ticks in 10 ms steps, too coarse for one check).
async fn measure(w: &World) -> Idle {
    let mut figures: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut operations: BTreeMap<String, u64> = BTreeMap::new();
    // The stores' connections are the proxy's, which stands for AWS here.
    let aws_port: u16 = w
        .requests
        .url()
        .expect("the stores on moto, through the counting proxy")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let (ebox_connections, aws_connections) = (w.sim.connections_accepted(), connections_to(aws_port));
    let cpu = cpu_ms();
    for _ in 0..RUNS {
        w.sim.reset_counters();
        w.requests.take();
        let report = w.fetcher.run(&request(), None).await;
        assert_eq!((report.outcome, report.delivered), (Outcome::Ok, 0));
        let aws = w.requests.take();
        let count = |s: &str| aws.get(s).copied().unwrap_or(0);
        let writes: u64 = aws
            .iter()
            .filter(|(op, _)| op.starts_with("dynamodb:") && !READS.iter().any(|r| op.ends_with(r)))
            .map(|(_, n)| n)
            .sum();
        for (name, value) in [
            ("ebox", w.sim.requests_of(ENTITY)),
            ("secretsmanager", count("secretsmanager")),
            ("dynamodb", count("dynamodb")),
            ("writes", writes),
            ("s3", count("s3")),
        ] {
            figures.entry(name).or_default().push(value);
        }
        for (op, n) in aws.iter().filter(|(op, _)| op.starts_with("dynamodb:")) {
            *operations.entry(op.clone()).or_default() += n;
        }
    }
    Idle {
        figures,
        operations,
        cpu_per_run: (cpu_ms() - cpu) / RUNS as f64,
        new_ebox: w.sim.connections_accepted() - ebox_connections,
        new_aws: connections_to(aws_port).difference(&aws_connections).count(),
    }
}

fn report(idle: &Idle, status_interval_min: i64) -> Vec<Row> {
    let operations: Vec<String> = idle
        .operations
        .iter()
        .map(|(op, n)| format!("{} {:.1}", op.trim_start_matches("dynamodb:"), *n as f64 / RUNS as f64))
        .collect();
    vec![
        idle.at_most("idle run: e-Box requests (2 active providers)", "ebox", 2),
        idle.at_most("idle run: Secrets Manager requests", "secretsmanager", 0),
        idle.at_most("idle run: DynamoDB requests", "dynamodb", 2),
        Row::note(format!("  of which, a run on average: {}", operations.join(", "))),
        Row::note(format!(
            "  and, once per status interval ({status_interval_min} min), one PutItem of the status"
        )),
        idle.at_most("idle run: DynamoDB writes", "writes", 0),
        idle.at_most("idle run: S3 requests", "s3", 0),
        Row::figure(
            format!("new connections in {RUNS} idle runs: e-Box / AWS (each a TLS handshake in production)"),
            format!("{} / {}", idle.new_ebox, idle.new_aws),
        )
        .goal("0 / 0")
        .at_most(idle.new_ebox, 0)
        .at_most(idle.new_aws, 0),
        Row::figure(
            format!("idle run: CPU time (mean of {RUNS}, client side incl. SDK and the counting proxy)"),
            format!("{:.1} ms", idle.cpu_per_run),
        ),
    ]
}
