//! A fast e-Box into a slow S3, by the fetch process as it ships: e-Box answers at once,
//! while S3 takes each upload slowly and answers late. Bodies must wait in e-Box's
//! connections, not in the process: its peak memory must be no more than the same mail
//! into moto as it is holds, measured in the same run. The attachments are of 1 MB, the
//! size of a common PDF, larger than the first run's (`first`).

use std::time::{Duration, Instant};

use bench::{FETCH_RSS_LIMIT_MB, Row};
use ebox_sim::data::Scenario;
use serde_json::json;
use testkit::fault_proxy::{Fault, FaultProxy, Rule};

use crate::process::fetch_command;
use crate::procfs::{process_cpu_ms, status_mb};
use crate::runtime::FakeRuntime;
use crate::world::{ENTITY, put_on_moto, simulator};

/// Bytes a second at which S3 takes each upload's body.
const INTAKE: u64 = 2_000_000;
/// How late S3 answers each upload, once it has the whole body.
const LATE: Duration = Duration::from_millis(100);
const MESSAGES: usize = 60;
/// Each message's two attachments.
const ATTACHMENT_BYTES: u64 = 1_000_000;

pub const TITLE: &str =
    "a fast e-Box into a slow S3 (60 messages of 2 x 1 MB, e-Box 0 ms; fetch process, release build)";

/// What the slowness may add to the peak: the page cache's share of a peak's spread
/// (`PROFILE.md`), not a body held.
const SLOWNESS_MARGIN_MB: f64 = 0.5;

/// One first run over fresh mail and stores.
struct Run {
    delivered: u64,
    complete: bool,
    peak_mb: f64,
    cpu_ms: f64,
    seconds: f64,
}

pub async fn rows() -> Vec<Row> {
    let moto = testkit::MotoServer::start();
    let fast = first_run(&moto, false).await;
    let slow = first_run(&moto, true).await;
    let mb_s = INTAKE as f64 / 1e6;
    let late = LATE.as_millis();
    let rate = |r: &Run| r.delivered as f64 / r.seconds;
    vec![
        Row::figure("into a slow S3: delivered", format!("{}", slow.delivered))
            .goal(format!("{MESSAGES}, outcome ok"))
            .at_most(MESSAGES.saturating_sub(slow.delivered as usize) as f64, 0.0)
            .provided(slow.complete),
        Row::figure(
            format!("into a slow S3 (each upload taken at {mb_s} MB/s, answered {late} ms late): peak RSS"),
            format!("{:.1} MB", slow.peak_mb),
        )
        .goal(format!("<= {FETCH_RSS_LIMIT_MB} MB"))
        .at_most(slow.peak_mb, FETCH_RSS_LIMIT_MB)
        .provided(slow.complete),
        Row::figure(
            "  the same mail into moto as it is: peak RSS",
            format!("{:.1} MB", fast.peak_mb),
        )
        .goal(format!("<= {FETCH_RSS_LIMIT_MB} MB"))
        .at_most(fast.peak_mb, FETCH_RSS_LIMIT_MB)
        .provided(fast.complete),
        Row::figure(
            "  peak RSS, slow S3 against moto as it is",
            format!("{:+.1} MB", slow.peak_mb - fast.peak_mb),
        )
        .goal(format!("<= +{SLOWNESS_MARGIN_MB} MB (no body waits in the process)"))
        .at_most(slow.peak_mb - fast.peak_mb, SLOWNESS_MARGIN_MB)
        .provided(slow.complete && fast.complete),
        Row::figure(
            "  rate: slow S3 / moto as it is",
            format!("{:.1} / {:.1} msg/s", rate(&slow), rate(&fast)),
        ),
        Row::figure(
            "  CPU of the process per message: slow S3 / moto as it is",
            format!(
                "{:.2} / {:.2} ms",
                slow.cpu_ms / slow.delivered.max(1) as f64,
                fast.cpu_ms / fast.delivered.max(1) as f64
            ),
        ),
    ]
}

/// A fresh process's first run, its AWS requests through a proxy that is slow when
/// `slow`: S3's uploads taken at [`INTAKE`] and answered [`LATE`].
async fn first_run(moto: &testkit::MotoServer, slow: bool) -> Run {
    let (sim, key) = simulator().await;
    sim.generate(&Scenario::of(23, ENTITY, MESSAGES, 2, ATTACHMENT_BYTES));
    let names = put_on_moto(moto, &key).await;
    let proxy = FaultProxy::start(&moto.url);
    if slow {
        proxy.slow_intake(INTAKE);
        proxy.inject(Rule::on("s3:PutObject").times(usize::MAX).fault(Fault::Delay(LATE)));
    }
    let mut runtime = FakeRuntime::start(vec![json!({"entity_id": ENTITY}).to_string()]).await;
    let mut child = fetch_command(&runtime, &proxy.url(), &names, &sim).spawn().unwrap();
    let pid = child.id().unwrap();
    runtime.first_next(Duration::from_secs(60)).await;
    let started = Instant::now();
    let answer = runtime.answer(Duration::from_secs(900)).await;
    let seconds = started.elapsed().as_secs_f64();
    let (peak_mb, cpu_ms) = (status_mb(pid, "VmHWM:"), process_cpu_ms(pid));
    let _ = child.kill().await;
    let report: serde_json::Value = answer
        .strip_prefix("response: ")
        .and_then(|body| serde_json::from_str(body).ok())
        .unwrap_or_default();
    let delivered = report["delivered"].as_u64().unwrap_or(0);
    Run {
        delivered,
        complete: delivered == MESSAGES as u64 && report["outcome"] == "ok",
        peak_mb,
        cpu_ms,
        seconds,
    }
}
