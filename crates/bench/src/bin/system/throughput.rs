//! One entity's delivery rate, in memory and on moto, against what e-Box latency and the
//! fetcher's concurrency allow.

use std::time::Instant;

use bench::Row;
use delivery::fetch::Outcome;
use ebox_sim::data::Scenario;

use crate::world::{CONCURRENCY, ENTITY, Stores, request, world};

pub const TITLE: &str = "fetch throughput (one entity, two 100 kB attachments a message, 8 in flight; median of 3)";

/// One entity's delivery rate, and the e-Box requests it made per message against the
/// fewest a message needs.
struct Throughput {
    rate: f64,
    per_message: f64,
    minimum: f64,
}

impl Throughput {
    /// Little's law: what concurrency and latency allow at the minimum requests a message
    /// needs.
    fn little(&self, latency_ms: u64) -> f64 {
        CONCURRENCY as f64 / (latency_ms as f64 / 1000.0 * self.minimum)
    }

    /// The row of this run of `messages` on those stores at that latency.
    fn row(&self, on_moto: bool, messages: usize, latency_ms: u64) -> Row {
        let name = format!(
            "{messages} msgs, {} stores, e-Box {latency_ms} ms ({:.2} req/msg, min {:.2})",
            if on_moto { "moto" } else { "memory" },
            self.per_message,
            self.minimum
        );
        Row::figure(name, format!("{:.1} msg/s", self.rate))
    }
}

/// Throughput of a closed loop of `n` jobs that each wait `delay` seconds (e-Box latency,
/// no queue) and then `demand` seconds at one queueing server (moto), by exact mean-value
/// analysis.
fn closed_loop_rate(n: usize, demand: f64, delay: f64) -> f64 {
    let (mut queue, mut rate) = (0.0, 0.0);
    for jobs in 1..=n {
        let residence = demand * (1.0 + queue);
        rate = jobs as f64 / (residence + delay);
        queue = rate * residence;
    }
    rate
}

/// The median of three runs, each on a fresh world.
async fn throughput(on_moto: bool, messages: usize, latency_ms: u64) -> Throughput {
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(throughput_once(on_moto, messages, latency_ms).await);
    }
    median_run(runs)
}

fn median_run(mut runs: Vec<Throughput>) -> Throughput {
    runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let middle = runs.len() / 2;
    runs.swap_remove(middle)
}

async fn throughput_once(on_moto: bool, messages: usize, latency_ms: u64) -> Throughput {
    let stores = if on_moto { Stores::Moto } else { Stores::Memory };
    let w = world(stores, latency_ms).await;
    w.sim.generate(&Scenario {
        seed: 3,
        enterprises: vec![ENTITY.into()],
        messages_per_enterprise: messages,
        attachments_per_message: 2,
        attachment_size: 100_000,
        providers: vec!["ebox-enterprise".into()],
    });
    // Every message says it may have a body (bodyMainContent is on each), so each costs
    // a body request besides its attachments.
    let bodies = w.sim.messages("ebox-enterprise", ENTITY).len();
    w.sim.reset_counters();
    let started = Instant::now();
    let report = w.fetcher.run(&request(), None).await;
    let took = started.elapsed().as_secs_f64();
    assert_eq!(report.outcome, Outcome::Ok, "{report:?}");
    assert_eq!(report.delivered as usize, messages);
    Throughput {
        rate: messages as f64 / took,
        per_message: w.sim.requests_of(ENTITY) as f64 / messages as f64,
        minimum: 2.0 + bodies as f64 / messages as f64 + 0.01,
    }
}

pub async fn rows() -> Vec<Row> {
    let mut rows = in_memory().await;
    rows.extend(on_moto().await);
    rows.extend(inline_bodies().await);
    rows
}

/// e-Box requests per message of a first run over a v3 registry, with the bodies that
/// come inline (every other message that has one) and with every body asked for.
async fn requests_per_message(inline: bool) -> (f64, f64) {
    const MESSAGES: usize = 200;
    let w = world(Stores::Memory, 0).await;
    w.sim.generate(&Scenario {
        seed: 5,
        enterprises: vec![ENTITY.into()],
        messages_per_enterprise: MESSAGES,
        attachments_per_message: 2,
        attachment_size: 10_000,
        providers: vec!["ebox-enterprise".into()],
    });
    let listed = w.sim.messages("ebox-enterprise", ENTITY);
    let inlined = listed
        .iter()
        .filter(|m| inline && m.body_inline && m.body.is_some())
        .count();
    if !inline {
        for m in &listed {
            w.sim
                .update_message("ebox-enterprise", ENTITY, &m.id, |m, _| m.body_inline = false);
        }
    }
    w.sim.reset_counters();
    let report = w.fetcher.run(&request(), None).await;
    assert_eq!(report.delivered as usize, MESSAGES, "{report:?}");
    (
        w.sim.requests_of(ENTITY) as f64 / MESSAGES as f64,
        inlined as f64 / MESSAGES as f64,
    )
}

async fn inline_bodies() -> Vec<Row> {
    let (called, _) = requests_per_message(false).await;
    let (inline, share) = requests_per_message(true).await;
    vec![
        Row::figure(
            "e-Box requests per message, v3 registry, every body asked for",
            format!("{called:.2}"),
        )
        .goal("the listing, each attachment, each body"),
        Row::figure(
            format!(
                "e-Box requests per message, v3 registry inlining {:.0}% of messages' bodies",
                share * 100.0
            ),
            format!("{inline:.2}"),
        )
        .goal(format!(
            "<= {:.2} (one request fewer per inline body)",
            called - share + 0.005
        ))
        .at_most(inline, called - share + 0.005),
    ]
}

/// In memory: the code against Little's law.
async fn in_memory() -> Vec<Row> {
    let at_20 = throughput(false, 2000, 20).await;
    let limit = at_20.little(20);
    let at_0 = throughput(false, 2000, 0).await;
    vec![
        at_20
            .row(false, 2000, 20)
            .goal(format!(">= 90% of {limit:.0} ({:.0}%)", at_20.rate / limit * 100.0))
            .at_least(at_20.rate, 0.90 * limit),
        at_0.row(false, 2000, 0).goal("emulators' limit"),
    ]
}

/// On moto: each message also queues at moto, one Python process on the cores the code
/// shares. Its service demand per message is what its best rate without e-Box latency
/// says (its capacity); the limit at 20 ms is then what mean-value analysis of the
/// closed loop gives (8 messages in flight, each waiting on e-Box, then queueing at
/// moto). Runs alternate between 0 and 20 ms, so both see the machine alike.
async fn on_moto() -> Vec<Row> {
    let (mut zero, mut twenty) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        zero.push(throughput_once(true, 300, 0).await);
        twenty.push(throughput_once(true, 300, 20).await);
    }
    let capacity = zero.iter().map(|t| t.rate).fold(0.0, f64::max);
    let (moto_0, moto_20) = (median_run(zero), median_run(twenty));
    let limit = closed_loop_rate(CONCURRENCY, 1.0 / capacity, 0.020 * moto_20.minimum);
    vec![
        moto_20
            .row(true, 300, 20)
            .goal(format!(
                ">= 85% of {limit:.0} ({:.0}%; moto's queue at its best {capacity:.0}/s)",
                moto_20.rate / limit * 100.0
            ))
            .at_least(moto_20.rate, 0.85 * limit),
        moto_0.row(true, 300, 0).goal("emulators' limit"),
    ]
}
