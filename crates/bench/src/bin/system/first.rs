//! A first run as production starts one, by the fetch process as it ships: 300 messages of
//! two 100 kB attachments, e-Box answering in 20 ms, moto's stores behind a proxy that
//! counts every AWS request; then idle runs in the same (warm) process. Three such
//! processes, each over fresh mail and stores; their medians are the figures. After each,
//! the plain script of `crates/bench/reference` over the same kind of mail and stores: the
//! fetch process's CPU a message against it. From what each kind of run costs, a
//! Lambda-sized rate and the monthly bill of a fleet.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bench::{FETCH_RSS_LIMIT_MB, Row, median};
use delivery::fetch::{Outcome, RunReport};
use ebox_sim::data::Scenario;
use serde_json::json;
use testkit::fault_proxy::FaultProxy;
use tokio::io::AsyncBufReadExt;

use crate::cost::{self, RunCost};
use crate::process::fetch_command;
use crate::procfs::{process_cpu_ms, status_mb};
use crate::quota::CpuQuota;
use crate::reference::{self, ScriptRun};
use crate::runtime::{FakeRuntime, fetch_report};
use crate::world::{ENTITY, put_on_moto, simulator};

pub const TITLE: &str = "a first run of 300 messages (2 x 100 kB), e-Box 20 ms, then idle runs (fetch process, release build; moto behind a counting proxy)";

const MESSAGES: usize = 300;
/// Idle runs after the first, measured together.
const IDLE_RUNS: usize = 10;
/// CPU a 256 MB function gets: Lambda gives a whole vCPU at 1,769 MB, and shares in
/// proportion to memory below it.
pub const LAMBDA_VCPU_256: f64 = 256.0 / 1769.0;

/// What one run of the process took.
struct Measured {
    /// `None` when the function answered with an error.
    report: Option<RunReport>,
    cpu_ms: f64,
    wall_ms: f64,
    peak_mb: f64,
    ebox_requests: u64,
    aws: Vec<(String, usize)>,
    log_bytes: u64,
}

/// Processes measured, each with its own first run; the figures are their medians, as
/// one run's CPU and peak on a shared machine vary by a tenth or more.
const PROCESSES: usize = 3;

/// What one process did: its first run, then its idle runs together, and its RSS after.
struct Process {
    runs: Vec<Measured>,
    warm_rss: f64,
}

pub async fn rows() -> Vec<Row> {
    let moto = testkit::MotoServer::start();
    let mut processes = Vec::with_capacity(PROCESSES);
    let mut scripts = Vec::with_capacity(PROCESSES);
    for i in 0..PROCESSES {
        // Only the first process is profiled (`make profile`).
        processes.push(one_process(&moto, i == 0).await);
        // The plain script after each, so that both meet the machine as it is.
        if perf_data().is_none() {
            let (sim, key) = mail().await;
            scripts.push(reference::run(&moto, &sim, &key).await);
        }
    }
    let throttled = in_lambda_share(&moto).await;
    report(&processes, &scripts, throttled)
}

/// The simulator with the scenario's mail for the benchmark entity, answering 20 ms late,
/// and the benchmark client's key.
async fn mail() -> (ebox_sim::Simulator, bench::Key) {
    let (sim, key) = simulator().await;
    sim.generate(&Scenario::of(17, ENTITY, MESSAGES, 2, 100_000));
    let latency = json!({"route": "any", "kind": {"type": "latency", "ms": 20}});
    sim.add_fault(serde_json::from_value(latency).unwrap());
    (sim, key)
}

/// A fresh process over fresh mail and fresh stores: its first run, then its idle runs.
async fn one_process(moto: &testkit::MotoServer, profiled: bool) -> Process {
    let (sim, key) = mail().await;
    let names = put_on_moto(moto, &key).await;
    let proxy = FaultProxy::start(&moto.url);
    let event = json!({"entity_id": ENTITY}).to_string();
    // One event at a time, so that each run's figures are its own.
    let mut runtime = FakeRuntime::start(Vec::new()).await;
    let mut command = fetch_command(&runtime, &proxy.url(), &names, &sim);
    let mut child = command.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let pid = child.id().unwrap();
    let mut output = Output::read(child.stdout.take().unwrap());
    let mut profiler = if profiled { profile(pid) } else { None };
    let mut runs = Vec::new();
    let (mut cpu, mut requests, mut logged, mut seen) = (0.0, 0, 0, 0);
    // The first run, then the idle runs as one measure (CPU time is read in 10 ms ticks).
    let mut reported = 0;
    for batch in [1, IDLE_RUNS] {
        let at = Instant::now();
        let mut answer = String::new();
        for _ in 0..batch {
            runtime.push(event.clone());
            answer = runtime.answer(Duration::from_secs(900)).await;
        }
        let wall_ms = at.elapsed().as_secs_f64() * 1000.0;
        // A run's log lines end with its report, which reaches the pipe a moment after
        // the answer: its bytes are counted once that line has been read.
        reported += batch;
        output.reports_read(reported).await;
        let log: Vec<(String, usize)> = proxy.log().into_iter().map(|e| (e.operation, e.items)).collect();
        let (now_cpu, now_requests) = (process_cpu_ms(pid), sim.shared().requests_of(ENTITY));
        let now_logged = output.bytes.load(Ordering::Relaxed);
        runs.push(Measured {
            report: fetch_report(&answer),
            cpu_ms: now_cpu - cpu,
            wall_ms,
            peak_mb: status_mb(pid, "VmHWM:"),
            ebox_requests: now_requests - requests,
            aws: log[seen..].to_vec(),
            log_bytes: now_logged - logged,
        });
        (cpu, requests, logged, seen) = (now_cpu, now_requests, now_logged, log.len());
        if let Some(mut perf) = profiler.take() {
            // The first run only: perf writes its data when interrupted.
            let _ = std::process::Command::new("kill")
                .args(["-INT", &perf.id().to_string()])
                .status();
            let _ = perf.wait();
        }
    }
    let warm_rss = status_mb(pid, "VmRSS:");
    let _ = child.kill().await;
    Process { runs, warm_rss }
}

/// The same first run by a process limited to a 256 MB function's share of a CPU (a
/// cgroup quota): messages a second, or None where the machine allows no quota.
async fn in_lambda_share(moto: &testkit::MotoServer) -> Option<f64> {
    let quota = CpuQuota::new(LAMBDA_VCPU_256)?;
    let (sim, key) = mail().await;
    let names = put_on_moto(moto, &key).await;
    let mut runtime = FakeRuntime::start(Vec::new()).await;
    let mut child = fetch_command(&runtime, &moto.url, &names, &sim).spawn().unwrap();
    let moved = quota.add(child.id().unwrap());
    let at = Instant::now();
    runtime.push(json!({"entity_id": ENTITY}).to_string());
    let answer = runtime.answer(Duration::from_secs(900)).await;
    let seconds = at.elapsed().as_secs_f64();
    let _ = child.kill().await;
    let delivered = fetch_report(&answer).map_or(0, |r| r.delivered);
    (moved.is_ok() && delivered == MESSAGES as u64).then(|| delivered as f64 / seconds)
}

/// Where `make profile` wants perf's samples, when it is profiling.
fn perf_data() -> Option<String> {
    std::env::var("BENCH_PERF_DATA").ok()
}

/// `make profile`: perf samples the process (call graphs from DWARF) into the file
/// `BENCH_PERF_DATA` names, when it names one.
fn profile(pid: u32) -> Option<std::process::Child> {
    let data = perf_data()?;
    let args = [
        "record",
        "-F",
        "999",
        "--call-graph",
        "dwarf,8192",
        "-o",
        &data,
        "-p",
        &pid.to_string(),
    ];
    std::process::Command::new("perf")
        .args(args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()
}

/// What the process writes to its standard output (its logs, as CloudWatch takes them):
/// the bytes, and the run reports among its lines (the last line a run logs).
struct Output {
    bytes: Arc<AtomicU64>,
    reports: tokio::sync::watch::Receiver<usize>,
}

impl Output {
    fn read(out: tokio::process::ChildStdout) -> Self {
        let bytes = Arc::new(AtomicU64::new(0));
        let (found, reports) = tokio::sync::watch::channel(0);
        let counted = bytes.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(out);
            let mut line = Vec::new();
            while let Ok(n @ 1..) = lines.read_until(b'\n', &mut line).await {
                counted.fetch_add(n as u64, Ordering::Relaxed);
                let text = std::str::from_utf8(&line).unwrap_or_default();
                if delivery::handlers::logged_run_report(text.trim_end()).is_some() {
                    found.send_modify(|count| *count += 1);
                }
                line.clear();
            }
        });
        Self { bytes, reports }
    }

    /// Until `runs` run reports have been read: a run's figures are taken only once all
    /// of its lines are counted.
    async fn reports_read(&mut self, runs: usize) {
        let wait = self.reports.wait_for(|count| *count >= runs);
        match tokio::time::timeout(Duration::from_secs(60), wait).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => panic!("the fetch process's output ended before its run report {runs}"),
            Err(_) => panic!("the fetch process's run report {runs} was not in its output after a minute"),
        }
    }
}

/// The median of `figure` over the processes, and its range.
fn spread<P>(processes: &[P], figure: impl Fn(&P) -> f64) -> (f64, String) {
    let mut all: Vec<f64> = processes.iter().map(figure).collect();
    all.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let range = format!("{} processes: {:.2}-{:.2}", all.len(), all[0], all[all.len() - 1]);
    (median(all), range)
}

fn report(processes: &[Process], scripts: &[Result<ScriptRun, String>], throttled: Option<f64>) -> Vec<Row> {
    let delivered_of = |p: &Process| p.runs[0].report.as_ref().map_or(0, |r| r.delivered);
    let complete = processes.iter().all(|p| {
        (p.runs[0].report.as_ref()).is_some_and(|r| r.delivered == MESSAGES as u64 && r.outcome == Outcome::Ok)
    });
    let cpu_per_message = |p: &Process| p.runs[0].cpu_ms / delivered_of(p).max(1) as f64;
    let (per_message, cpu_range) = spread(processes, cpu_per_message);
    let (peak_mb, peak_range) = spread(processes, |p| p.runs[0].peak_mb);
    let (warm_rss, warm_range) = spread(processes, |p| p.warm_rss);
    // The requests, the idle runs and the costs are those of the process with the median CPU.
    let typical = processes
        .iter()
        .find(|p| cpu_per_message(p) == per_message)
        .expect("the median is one of them");
    let (first, idle) = (&typical.runs[0], &typical.runs[1]);
    let delivered = delivered_of(typical);
    let lambda_rate = LAMBDA_VCPU_256 / (per_message / 1000.0);
    let n = IDLE_RUNS as f64;
    let mut rows = vec![
        Row::figure(
            format!(
                "first run: delivered, outcome {} (the fewest of the processes)",
                first
                    .report
                    .as_ref()
                    .map_or("none (an error answer)".into(), |r| r.outcome.to_string())
            ),
            format!("{}", processes.iter().map(delivered_of).min().unwrap_or(0)),
        )
        .goal(format!("{MESSAGES}, ok, in each"))
        .at_least(u64::from(complete), 1),
        Row::figure(
            format!("first run: CPU of the process per message (incl. its start; median, {cpu_range} ms)"),
            format!("{per_message:.2} ms"),
        )
        .goal("<= 1.75 ms")
        .at_most(per_message, 1.75)
        .provided(complete),
    ];
    rows.extend(against_the_script(per_message, complete, scripts));
    rows.extend([
        Row::figure(
            format!("first run: peak RSS (median, {peak_range} MB)"),
            format!("{peak_mb:.1} MB"),
        )
        .goal(format!("<= {FETCH_RSS_LIMIT_MB} MB"))
        .at_most(peak_mb, FETCH_RSS_LIMIT_MB)
        .provided(complete),
        Row::figure(
            "first run: e-Box / AWS requests per message",
            format!(
                "{:.2} / {:.2}",
                first.ebox_requests as f64 / delivered.max(1) as f64,
                first.aws.len() as f64 / delivered.max(1) as f64
            ),
        ),
        Row::figure(
            "  AWS requests of the first run, by operation",
            cost::by_operation(&first.aws),
        ),
        Row::figure(
            "a 256 MB function's CPU share (cgroup quota of 256/1769 of a CPU), same run",
            throttled.map_or("no quota on this machine".into(), |rate| format!("{rate:.0} msg/s")),
        )
        .goal("messages per second one entity gets in production"),
        Row::figure(
            "  derived: this CPU per message at 256/1769 of a vCPU",
            format!("{lambda_rate:.0} msg/s"),
        )
        .goal("the same, were it CPU-bound"),
        Row::figure(
            format!("RSS after {IDLE_RUNS} idle runs (warm; median, {warm_range} MB)"),
            format!("{warm_rss:.1} MB"),
        )
        .goal(format!("<= {FETCH_RSS_LIMIT_MB} MB"))
        .at_most(warm_rss, FETCH_RSS_LIMIT_MB),
        Row::figure(
            "idle run (warm): CPU / e-Box / AWS requests / log bytes",
            format!(
                "{:.1} ms / {:.1} / {:.1} / {:.0}",
                idle.cpu_ms / n,
                idle.ebox_requests as f64 / n,
                idle.aws.len() as f64 / n,
                idle.log_bytes as f64 / n
            ),
        ),
    ]);
    let message = RunCost::per_message(first, delivered);
    let idle_run = RunCost::of(idle).scaled(1.0 / n);
    rows.extend(cost::table(&message, &idle_run));
    rows
}

impl RunCost {
    fn of(run: &Measured) -> Self {
        RunCost::from_operations(&run.aws, run.wall_ms, run.log_bytes as f64)
    }

    /// A first run's costs, per message delivered: as long as one message alone keeps a
    /// function busy (its share of the batch, times the messages delivered at once), and a
    /// month's storage of its 200 kB.
    fn per_message(run: &Measured, delivered: u64) -> Self {
        let mut c = RunCost::of(run).scaled(1.0 / delivered.max(1) as f64);
        c.function_ms *= crate::world::CONCURRENCY as f64;
        c.stored_bytes = 200_000.0;
        c
    }
}

/// The fetch process's CPU a message against the plain script's, both of the same run
/// (medians over their processes): the measure, a fifth of the script's. Met only
/// when both delivered all (`fetched_all`: the fetch process's runs did).
fn against_the_script(per_message: f64, fetched_all: bool, scripts: &[Result<ScriptRun, String>]) -> Vec<Row> {
    const NAME: &str = "the plain script (boto3, requests: crates/bench/reference/fetch.py)";
    if scripts.is_empty() {
        return vec![Row::figure(NAME, "not run while profiling")];
    }
    let runs: Vec<&ScriptRun> = match scripts.iter().map(Result::as_ref).collect::<Result<_, _>>() {
        Ok(runs) => runs,
        Err(e) => {
            return vec![Row::figure(format!("{NAME}: {e}"), "failed").goal("<= 1/5").unmet()];
        }
    };
    let complete = runs.iter().all(|r| r.delivered == MESSAGES as u64);
    let (script_cpu, range) = spread(&runs, |r| r.cpu_per_message());
    let (peak, _) = spread(&runs, |r| r.peak_mb);
    let (ebox, _) = spread(&runs, |r| r.ebox_requests as f64 / r.delivered.max(1) as f64);
    vec![
        Row::figure(
            format!("{NAME}, same run: CPU per message (incl. its start; median, {range} ms)"),
            format!("{script_cpu:.2} ms"),
        )
        .goal(format!("{MESSAGES} delivered in each"))
        .at_least(u64::from(complete), 1),
        Row::figure(
            format!("  the fetch process's CPU per message against it ({per_message:.2} / {script_cpu:.2} ms)"),
            format!("1/{:.1}", script_cpu / per_message),
        )
        .goal("<= 1/5")
        .at_most(per_message / script_cpu, 0.2)
        .provided(complete && fetched_all),
        Row::figure(
            "  the script's peak RSS / e-Box requests per message",
            format!("{peak:.1} MB / {ebox:.2}"),
        ),
    ]
}
