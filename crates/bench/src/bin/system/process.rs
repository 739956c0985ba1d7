//! The fetch process itself, run as Lambda runs it: its own memory and CPU time, read
//! from /proc, while it delivers one 200 MB attachment and then idles.

use std::time::{Duration, Instant};

use bench::{FETCH_RSS_LIMIT_MB, Row, scopes};
use delivery::config::{FETCH_MALLOC_TUNABLES, StorageNames};
use delivery::fetch::Outcome;
use ebox_sim::Simulator;
use serde_json::json;

use crate::procfs::{process_cpu_ms, status_mb};
use crate::runtime::{FakeRuntime, fetch_report, function_command, shipped};
use crate::world::{ENTITY, add_big_message, put_on_moto, simulator};

pub const TITLE: &str = "the fetch process itself (release build for this machine; moto and the simulator outside it)";

/// Events the process is handed: the delivery, then two idle runs.
const RUNS: usize = 3;

/// The process's figures after one of its runs.
struct AfterRun {
    /// Peak RSS so far, in MB.
    peak: f64,
    /// RSS, in MB.
    rss: f64,
    /// What the function answered.
    answer: String,
    /// CPU time so far.
    cpu_ms: f64,
}

/// Runs the fetch binary as it ships, through the fake runtime API, which hands it the
/// same event three times, and reads its memory figures after each run.
pub async fn rows() -> Vec<Row> {
    let moto = testkit::MotoServer::start();
    let (sim, key) = simulator().await;
    add_big_message(&sim);
    let names = put_on_moto(&moto, &key).await;
    let mut runtime = FakeRuntime::start(vec![json!({"entity_id": ENTITY}).to_string(); RUNS]).await;
    let mut child = fetch_command(&runtime, &moto.url, &names, &sim).spawn().unwrap();
    let pid = child.id().unwrap();
    let runs = after_each_run(&mut runtime, pid).await;
    let (anon, file) = (status_mb(pid, "RssAnon:"), status_mb(pid, "RssFile:"));
    let _ = child.kill().await;
    report(&runs, anon, file)
}

/// The process's figures after each of its runs.
async fn after_each_run(runtime: &mut FakeRuntime, pid: u32) -> Vec<AfterRun> {
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let answer = runtime.answer(Duration::from_secs(600)).await;
        assert!(answer.starts_with("response"), "{answer}");
        runs.push(AfterRun {
            peak: status_mb(pid, "VmHWM:"),
            rss: status_mb(pid, "VmRSS:"),
            answer,
            cpu_ms: process_cpu_ms(pid),
        });
    }
    runs
}

/// A fresh fetch process's first run: its report, and what it took.
pub struct FirstRun {
    /// `None` when the function answered with an error.
    pub report: Option<delivery::fetch::RunReport>,
    /// From the process's first request for an event to its answer.
    pub seconds: f64,
    pub peak_mb: f64,
    pub cpu_ms: f64,
}

impl FirstRun {
    pub fn delivered(&self) -> u64 {
        self.report.as_ref().map_or(0, |r| r.delivered)
    }

    /// Whether all of `messages` were delivered, outcome ok.
    pub fn complete(&self, messages: usize) -> bool {
        (self.report.as_ref()).is_some_and(|r| r.delivered == messages as u64 && r.outcome == Outcome::Ok)
    }
}

/// One fetch of the benchmark entity by a fresh fetch process as it ships (its AWS
/// requests to `moto_url`), which is stopped after it answers.
pub async fn first_run(moto_url: &str, names: &StorageNames, sim: &Simulator, limit: Duration) -> FirstRun {
    let mut runtime = FakeRuntime::start(vec![json!({"entity_id": ENTITY}).to_string()]).await;
    let mut child = fetch_command(&runtime, moto_url, names, sim).spawn().unwrap();
    let pid = child.id().unwrap();
    runtime.first_next(Duration::from_secs(60)).await;
    let started = Instant::now();
    let answer = runtime.answer(limit).await;
    let seconds = started.elapsed().as_secs_f64();
    let (peak_mb, cpu_ms) = (status_mb(pid, "VmHWM:"), process_cpu_ms(pid));
    let _ = child.kill().await;
    FirstRun {
        report: fetch_report(&answer),
        seconds,
        peak_mb,
        cpu_ms,
    }
}

/// The fetch function's process, configured for moto's stores and the simulator.
pub fn fetch_command(
    runtime: &FakeRuntime,
    moto_url: &str,
    names: &StorageNames,
    sim: &Simulator,
) -> tokio::process::Command {
    let mut command = function_command(&shipped("fetch"), "fetch", runtime);
    // As Terraform sets it.
    command.env(FETCH_MALLOC_TUNABLES.0, FETCH_MALLOC_TUNABLES.1);
    with_world(&mut command, moto_url, names, sim);
    command
}

/// The environment a fetcher outside this process (the fetch process, the plain script)
/// finds moto's stores and the simulator by.
pub fn with_world(command: &mut tokio::process::Command, moto_url: &str, names: &StorageNames, sim: &Simulator) {
    command
        .env("AWS_ENDPOINT_URL", moto_url)
        .env("AWS_REGION", testkit::REGION)
        .env("AWS_DEFAULT_REGION", testkit::REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("CONNECTIONS_TABLE", &names.connections_table)
        .env("STATE_TABLE", &names.state_table)
        .env("VERDEELBAK_BUCKET", &names.verdeelbak_bucket)
        .env("EVENT_BUS_NAME", &names.event_bus)
        .env("EBOX_TOKEN_URL", sim.token_url())
        .env("EBOX_AUDIENCE", sim.audience())
        .env("EBOX_PROVIDER_REGISTRY_URL", sim.provider_registry_url())
        .env("EBOX_SCOPES", scopes().join(" "));
}

fn report(runs: &[AfterRun], anon: f64, file: f64) -> Vec<Row> {
    let (delivery, warm) = (&runs[0], &runs[RUNS - 1]);
    let delivered = delivery.answer.contains("\"delivered\":1");
    vec![
        Row::figure(
            "fetch process: peak RSS, delivering one 200 MB attachment",
            format!("{:.1} MB", delivery.peak),
        )
        .goal(format!("<= {FETCH_RSS_LIMIT_MB} MB"))
        .at_most(delivery.peak, FETCH_RSS_LIMIT_MB)
        .provided(delivered),
        Row::figure(
            "fetch process: CPU time of that delivery (first run, incl. start)",
            format!("{:.0} ms", delivery.cpu_ms),
        ),
        Row::figure(
            "fetch process: RSS after two idle runs (warm)",
            format!("{:.1} MB", warm.rss),
        )
        .goal(format!("<= {FETCH_RSS_LIMIT_MB} MB"))
        .at_most(warm.rss, FETCH_RSS_LIMIT_MB),
        Row::figure(
            "  of which heap and stacks / mapped code and data of the binary",
            format!("{anon:.1} / {file:.1} MB"),
        ),
    ]
}
