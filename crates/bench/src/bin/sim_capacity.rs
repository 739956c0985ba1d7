//! The simulator's own capacity on loopback: message-list requests per second and
//! attachment megabytes per second, so that every other figure can be read against it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bench::*;
use ebox_sim::data::Scenario;
use futures::StreamExt;

const ENTERPRISE: &str = "0403170701";
const RUNS: usize = 3;
const WINDOW: Duration = Duration::from_secs(3);

#[tokio::main]
async fn main() {
    let (sim, session) = simulator_with_session(ENTERPRISE).await;
    sim.generate(&Scenario {
        seed: 1,
        enterprises: vec![ENTERPRISE.into()],
        messages_per_enterprise: 1000,
        attachments_per_message: 2,
        attachment_size: 100_000,
        providers: vec!["ebox-enterprise".into()],
    });
    sim.add_message(
        "ebox-enterprise",
        ENTERPRISE,
        serde_json::from_value::<ebox_sim::control::MessageSpec>(serde_json::json!({
            "message_id": "big", "attachments": [{"file_name": "big.pdf", "size": 1_000_000_000u64, "main_content": true}]
        }))
        .unwrap()
        .into_message(sim.now())
        .unwrap(),
    );
    let token = session.access_token().await.unwrap();
    let bearer = token_value(&token);
    let http = reqwest::Client::new();
    // The registry as discovery announces it (its version is part of the path).
    let base = sim
        .registry_url("ebox-enterprise")
        .expect("the simulator has ebox-enterprise");

    let list = list_rate(&http, &base, &bearer).await;
    let stream = stream_rate(&http, &base, &bearer).await;
    print_rows(
        "e-Box simulator capacity (loopback, client and simulator sharing the machine's cores)",
        &[
            Row::figure(
                "message-list requests/s (pageSize=50, 16 in flight)",
                format!("{list:.0}"),
            )
            .goal(">= 5000")
            .at_least(list, 5000.0),
            Row::figure("attachment stream MB/s (one 1 GB attachment)", format!("{stream:.0}"))
                .goal(">= 500")
                .at_least(stream, 500.0),
        ],
    );
}

/// Message-list requests a second, 16 in flight for a window; the median of the runs.
async fn list_rate(http: &reqwest::Client, base: &str, bearer: &str) -> f64 {
    let mut list_rates = Vec::new();
    for _ in 0..RUNS {
        let done = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let workers: Vec<_> = (0..16)
            .map(|_| {
                let (http, done, bearer) = (http.clone(), done.clone(), bearer.to_owned());
                let url = format!("{base}/ebox/messages?page=1&pageSize=50");
                tokio::spawn(async move {
                    while started.elapsed() < WINDOW {
                        let r = http.get(&url).bearer_auth(&bearer).send().await.unwrap();
                        assert!(r.status().is_success(), "{url}: {}", r.status());
                        let body = r.bytes().await.unwrap();
                        assert!(
                            body.len() > 50 * 1000,
                            "a full page of 50 messages (what the registry serves)"
                        );
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        futures::future::join_all(workers).await;
        list_rates.push(done.load(Ordering::Relaxed) as f64 / secs(started.elapsed()));
    }
    median(list_rates)
}

/// Megabytes a second of the 1 GB attachment, streamed whole; the median of the runs.
async fn stream_rate(http: &reqwest::Client, base: &str, bearer: &str) -> f64 {
    let mut stream_rates = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let r = http
            .get(format!("{base}/ebox/messages/big/attachments/att-1/content"))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap();
        let mut body = r.bytes_stream();
        let mut n = 0u64;
        while let Some(chunk) = body.next().await {
            n += chunk.unwrap().len() as u64;
        }
        assert_eq!(n, 1_000_000_000);
        stream_rates.push(n as f64 / 1e6 / secs(started.elapsed()));
    }
    median(stream_rates)
}

fn token_value(token: &ebox::AccessToken) -> String {
    token.expose_secret().to_owned()
}
