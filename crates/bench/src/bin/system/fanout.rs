//! Dispatching every connection to fetch, against an Invoke endpoint that answers in
//! 20 ms: how long, and how this process's memory grows with the connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bench::{Row, rss};
use delivery::aws::AwsClients;
use delivery::ports::*;

pub const TITLE: &str =
    "fanout (Invoke endpoint answering in 20 ms, 64 in flight, connections and last runs in memory, the fleet counted)";

pub async fn rows() -> Vec<Row> {
    let (small, small_mb) = fanout(1_000).await;
    let (large, large_mb) = fanout(10_000).await;
    // 10,000 invocations of 20 ms each, 64 at a time.
    let limit = 10_000.0 * 0.020 / 64.0;
    vec![
        Row::figure("dispatch 10,000 connections", format!("{large:.2} s"))
            .goal(format!("<= 1.2 x {limit:.2} s"))
            .at_most(large, 1.2 * limit),
        Row::figure("dispatch 1,000 connections", format!("{small:.2} s")),
        Row::figure(
            "RSS growth while dispatching: 1,000 / 10,000 connections",
            format!("{small_mb:.1} / {large_mb:.1} MB"),
        ),
        // Connections are paged through, never held all at once: ten times the fleet
        // costs no more memory (the store itself is outside the measure).
        Row::figure(
            "growth(10,000) - growth(1,000)",
            format!("{:.1} MB", large_mb - small_mb),
        )
        .goal("<= 2 MB (flat in connections)")
        .at_most(large_mb - small_mb, 2.0),
    ]
}

/// Seconds to dispatch `connections`, and how far RSS rose above its level before, in MB
/// (sampled every 2 ms while the dispatch runs).
async fn fanout(connections: u64) -> (f64, f64) {
    let url = invoke_endpoint().await;
    let sdk = testkit::sdk_for(&url).await;
    let clients = AwsClients::new(&sdk);
    let backend = testkit::backend::Backend::memory().await;
    let reports = backend.stores.reports.clone();
    for n in 0..connections {
        let id = testkit::backend::entity(10, n as u32);
        let secret = CredentialsRef::Secret {
            secret_id: String::new(),
        };
        let mut last_run = delivery::fetch::RunReport::new("r".into(), id.to_string(), false, chrono::Utc::now());
        last_run.last_success_at = Some(last_run.finished_at);
        reports.put_last(&id, &last_run, None).await.unwrap();
        backend
            .connections
            .put(&Connection::new(id, "", secret, chrono::Utc::now()))
            .await
            .unwrap();
    }
    let fanout = delivery::fanout::Fanout {
        connections: backend.connections.clone(),
        dispatcher: Arc::new(delivery::aws::LambdaDispatcher::new(clients.lambda.clone(), "fetch")),
        settings: delivery::fanout::FanoutSettings::default(),
        // The fleet counted as on every scheduled tick, each connection with a last run.
        fleet: Some(delivery::fanout::FleetWatch {
            reports,
            rules: delivery::fleet::FleetRules::new(
                delivery::fleet::Schedule::parse(
                    delivery::config::DEFAULT_SCHEDULE,
                    delivery::config::DEFAULT_TIMEZONE,
                )
                .unwrap(),
            ),
            clock: Arc::new(delivery::fetch::SystemClock),
        }),
    };
    let before = rss();
    let highest = Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampler = {
        let highest = highest.clone();
        tokio::spawn(async move {
            loop {
                highest.fetch_max(rss(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let started = Instant::now();
    let report = fanout.run(&delivery::fanout::Trigger::All).await.unwrap();
    let took = started.elapsed().as_secs_f64();
    sampler.abort();
    highest.fetch_max(rss(), std::sync::atomic::Ordering::Relaxed);
    assert_eq!(report.dispatched, connections, "{:?}", report.failed.first());
    let grew = highest
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(before);
    (took, grew as f64 / 1e6)
}

/// An Invoke endpoint that answers in 20 ms, serving for the rest of the process; its URL.
async fn invoke_endpoint() -> String {
    let app = axum::Router::new().route(
        "/2015-03-31/functions/{name}/invocations",
        axum::routing::post(|| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            (axum::http::StatusCode::ACCEPTED, "")
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}
