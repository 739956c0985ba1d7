//! From a function's process start to its first request for an event.

use std::time::{Duration, Instant};

use bench::{Row, median};

use crate::runtime::{FakeRuntime, function_command, shipped};

pub const TITLE: &str = "start to ready (release build for this machine, fake Lambda runtime API)";

/// Starts measured of each function.
const SAMPLES: usize = 7;

pub async fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for function in ["fetch", "fanout"] {
        let binary = shipped(function);
        let mut samples = Vec::new();
        for _ in 0..SAMPLES {
            samples.push(start_to_ready(&binary, function).await);
        }
        let ms = median(samples);
        rows.push(
            Row::figure(
                format!("{function}: process start to first /invocation/next"),
                format!("{ms:.1} ms"),
            )
            .goal("<= 10 ms")
            .at_most(ms, 10.0),
        );
    }
    rows
}

/// Milliseconds from starting `function`'s process to its first request for an event,
/// through a fake runtime API that never hands it one.
async fn start_to_ready(binary: &std::path::Path, function: &str) -> f64 {
    let mut runtime = FakeRuntime::start(Vec::new()).await;
    let started = Instant::now();
    let mut child = function_command(binary, function, &runtime)
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .envs([
            ("CONNECTIONS_TABLE", "c"),
            ("STATE_TABLE", "s"),
            ("VERDEELBAK_BUCKET", "b"),
            ("EVENT_BUS_NAME", "e"),
            ("FETCH_FUNCTION_NAME", "fetch"),
            ("EBOX_TOKEN_URL", "https://e.invalid/token"),
            ("EBOX_AUDIENCE", "https://e.invalid/token"),
            ("EBOX_PROVIDER_REGISTRY_URL", "https://e.invalid/providers"),
            ("EBOX_SCOPES", "a b"),
        ])
        .spawn()
        .unwrap();
    let ready = runtime.first_next(Duration::from_secs(10)).await;
    let _ = child.kill().await;
    (ready - started).as_secs_f64() * 1000.0
}
