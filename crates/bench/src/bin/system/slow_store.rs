//! A fast e-Box into a slow S3, by the fetch process as it ships: e-Box answers at once,
//! while S3 takes each upload slowly and answers late. Bodies must wait in e-Box's
//! connections, not in the process: its peak memory must be no more than the same mail
//! into moto as it is holds, measured in the same run. The attachments are of 1 MB, the
//! size of a common PDF, larger than the first run's (`first`).

use std::time::Duration;

use bench::{FETCH_RSS_LIMIT_MB, Row};
use ebox_sim::data::Scenario;
use testkit::fault_proxy::{Fault, FaultProxy, Rule};

use crate::process::{FirstRun, first_run};
use crate::world::{ENTITY, put_on_moto, simulator};

/// Bytes a second at which the proxy takes each request's body (the uploads' matter; the
/// other requests' bodies are of a few kB).
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

pub async fn rows() -> Vec<Row> {
    let moto = testkit::MotoServer::start();
    let fast = into_s3(&moto, false).await;
    let slow = into_s3(&moto, true).await;
    let mb_s = INTAKE as f64 / 1e6;
    let late = LATE.as_millis();
    let rate = |r: &FirstRun| r.delivered() as f64 / r.seconds;
    let cpu = |r: &FirstRun| r.cpu_ms / r.delivered().max(1) as f64;
    let (slow_complete, fast_complete) = (slow.complete(MESSAGES), fast.complete(MESSAGES));
    vec![
        Row::figure("into a slow S3: delivered", format!("{}", slow.delivered()))
            .goal(format!("{MESSAGES}, outcome ok"))
            .at_most(MESSAGES.saturating_sub(slow.delivered() as usize) as f64, 0.0)
            .provided(slow_complete),
        Row::figure(
            format!("into a slow S3 (request bodies taken at {mb_s} MB/s, uploads answered {late} ms late): peak RSS"),
            format!("{:.1} MB", slow.peak_mb),
        )
        .goal(format!("<= {FETCH_RSS_LIMIT_MB} MB"))
        .at_most(slow.peak_mb, FETCH_RSS_LIMIT_MB)
        .provided(slow_complete),
        Row::figure(
            "  the same mail into moto as it is: peak RSS",
            format!("{:.1} MB", fast.peak_mb),
        )
        .goal(format!("<= {FETCH_RSS_LIMIT_MB} MB"))
        .at_most(fast.peak_mb, FETCH_RSS_LIMIT_MB)
        .provided(fast_complete),
        Row::figure(
            "  peak RSS, slow S3 against moto as it is",
            format!("{:+.1} MB", slow.peak_mb - fast.peak_mb),
        )
        .goal(format!("<= +{SLOWNESS_MARGIN_MB} MB (no body waits in the process)"))
        .at_most(slow.peak_mb - fast.peak_mb, SLOWNESS_MARGIN_MB)
        .provided(slow_complete && fast_complete),
        Row::figure(
            "  rate: slow S3 / moto as it is",
            format!("{:.1} / {:.1} msg/s", rate(&slow), rate(&fast)),
        ),
        Row::figure(
            "  CPU of the process per message: slow S3 / moto as it is",
            format!("{:.2} / {:.2} ms", cpu(&slow), cpu(&fast)),
        ),
    ]
}

/// A fresh process's first run, its AWS requests through a proxy that is slow when
/// `slow`: request bodies taken at [`INTAKE`], S3's uploads answered [`LATE`].
async fn into_s3(moto: &testkit::MotoServer, slow: bool) -> FirstRun {
    let (sim, key) = simulator().await;
    sim.generate(&Scenario::of(23, ENTITY, MESSAGES, 2, ATTACHMENT_BYTES));
    let names = put_on_moto(moto, &key).await;
    let proxy = FaultProxy::start(&moto.url);
    if slow {
        proxy.slow_intake(INTAKE);
        proxy.inject(Rule::on("s3:PutObject").times(usize::MAX).fault(Fault::Delay(LATE)));
    }
    first_run(&proxy.url(), &names, &sim, Duration::from_secs(900)).await
}
