//! A first run over a big backlog, by the fetch process as it ships: its peak memory
//! must not grow with the backlog (messages stream through the walk, never held), and
//! its rate, with moto's stores outside it.

use std::time::Duration;

use bench::{FETCH_RSS_LIMIT_MB, Row};
use ebox_sim::data::Scenario;

use crate::process::first_run;
use crate::world::{ENTITY, put_on_moto, simulator};

pub const TITLE: &str = "a first run over a backlog (fetch process, release build; moto and the simulator outside it)";

/// Messages in the backlog, over both providers, one 10 kB attachment each.
const BACKLOG: usize = 2_500;

pub async fn rows() -> Vec<Row> {
    let moto = testkit::MotoServer::start();
    let (sim, key) = simulator().await;
    sim.generate(&Scenario::of(11, ENTITY, BACKLOG, 1, 10_000));
    let names = put_on_moto(&moto, &key).await;
    let run = first_run(&moto.url, &names, &sim, Duration::from_secs(1_800)).await;
    let (delivered, complete) = (run.delivered(), run.complete(BACKLOG));
    let (peak, cpu_ms, seconds) = (run.peak_mb, run.cpu_ms, run.seconds);
    vec![
        Row::figure(
            format!("first run over {BACKLOG} messages: delivered"),
            format!("{delivered}"),
        )
        .goal(format!("{BACKLOG}, outcome ok"))
        .at_most((BACKLOG as u64 - delivered.min(BACKLOG as u64)) as f64, 0.0)
        .provided(complete),
        Row::figure(
            format!("first run over {BACKLOG} messages: peak RSS"),
            format!("{peak:.1} MB"),
        )
        .goal(format!("<= {FETCH_RSS_LIMIT_MB} MB"))
        .at_most(peak, FETCH_RSS_LIMIT_MB)
        .provided(complete),
        Row::figure(
            format!("first run over {BACKLOG} messages: rate (moto stores, e-Box 0 ms)"),
            format!("{:.1} msg/s", delivered as f64 / seconds),
        ),
        Row::figure(
            "  CPU time of the fetch process per message",
            format!("{:.2} ms", cpu_ms / delivered.max(1) as f64),
        ),
    ]
}
