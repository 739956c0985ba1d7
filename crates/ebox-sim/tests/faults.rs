//! Faults on demand, through the control API.

mod common;

use common::*;
use ebox_sim::data::Scenario;
use serde_json::{Value, json};
use sha2::Digest;

async fn fixture_with_messages(n: usize) -> (Fixture, String) {
    let f = Fixture::start().await;
    f.sim
        .generate(&Scenario::of(3, ENTERPRISE_A, n, 1, 300_000).at(PROVIDER));
    let token = f.token_a().await;
    (f, token)
}

async fn fault(f: &Fixture, fault: Value) {
    let r = f.control(reqwest::Method::POST, "/control/faults", fault).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

fn content_url(f: &Fixture) -> String {
    let m = &f.sim.messages(PROVIDER, ENTERPRISE_A)[0];
    format!(
        "{}/ebox/messages/{}/attachments/att-1/content",
        f.registry(PROVIDER),
        m.id
    )
}

#[tokio::test]
async fn status_faults_with_retry_after_then_recovery() {
    let (f, token) = fixture_with_messages(3).await;
    fault(
        &f,
        json!({"route": "list", "kind": {"type": "status", "status": 429, "retry_after": "2"}, "times": 1}),
    )
    .await;
    fault(
        &f,
        json!({"route": "list", "kind": {"type": "status", "status": 503}, "times": 2}),
    )
    .await;
    let list = format!("{}/ebox/messages", f.registry(PROVIDER));
    let r = f.get(&list, &token).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "SIMULATED_FAULT");
    // One status per request: the burst of two 503s follows the 429.
    assert_eq!(f.get(&list, &token).await.status(), 503);
    assert_eq!(f.get(&list, &token).await.status(), 503);
    assert_eq!(f.get(&list, &token).await.status(), 200, "the burst is over");
    // Faults on one provider leave the others alone.
    fault(
        &f,
        json!({"route": "any", "provider": PROVIDER, "kind": {"type": "status", "status": 500}}),
    )
    .await;
    assert_eq!(f.get(&list, &token).await.status(), 500);
    assert_eq!(
        f.get(&format!("{}/ebox", f.registry(PROVIDER_2)), &token)
            .await
            .status(),
        200
    );
    assert_eq!(
        f.http.delete(f.url("/control/faults")).send().await.unwrap().status(),
        204
    );
    assert_eq!(f.get(&list, &token).await.status(), 200);
}

#[tokio::test]
async fn a_reset_fails_the_transfer_and_a_truncated_body_is_short() {
    let (f, token) = fixture_with_messages(1).await;
    fault(
        &f,
        json!({"route": "content", "kind": {"type": "reset", "after_bytes": 100_000}, "times": 1}),
    )
    .await;
    let transfer = async {
        let r = f.http.get(content_url(&f)).bearer_auth(&token).send().await?;
        r.bytes().await
    };
    assert!(transfer.await.is_err(), "a reset transfer must not complete");

    fault(
        &f,
        json!({"route": "content", "kind": {"type": "truncate", "after_bytes": 100_000}, "times": 1}),
    )
    .await;
    let r = f.get(&content_url(&f), &token).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "100000");
    assert_eq!(r.bytes().await.unwrap().len(), 100_000);

    let full = f.get(&content_url(&f), &token).await.bytes().await.unwrap();
    assert_eq!(full.len(), 300_000);
}

#[tokio::test]
async fn malformed_json_and_wrong_digest() {
    let (f, token) = fixture_with_messages(2).await;
    fault(
        &f,
        json!({"route": "list", "kind": {"type": "malformed_json"}, "times": 1}),
    )
    .await;
    let r = f.get(&format!("{}/ebox/messages", f.registry(PROVIDER)), &token).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.starts_with("{"));
    assert!(serde_json::from_str::<Value>(&text).is_err());

    fault(
        &f,
        json!({"route": "content", "kind": {"type": "wrong_digest"}, "times": 1}),
    )
    .await;
    let announced = f.sim.messages(PROVIDER, ENTERPRISE_A)[0].attachments[0]
        .digest
        .clone()
        .unwrap();
    let digest = |b: &[u8]| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(b))
    };
    let wrong = f.get(&content_url(&f), &token).await.bytes().await.unwrap();
    assert_eq!(wrong.len(), 300_000);
    assert_ne!(digest(&wrong), announced);
    let right = f.get(&content_url(&f), &token).await.bytes().await.unwrap();
    assert_eq!(digest(&right), announced);
}

#[tokio::test]
async fn tokens_can_be_made_to_expire_after_some_calls() {
    let f = Fixture::start().await;
    fault(
        &f,
        json!({"route": "token", "kind": {"type": "token_expires_after", "calls": 2}, "times": 1}),
    )
    .await;
    let token = f.token_a().await;
    // The summary answers 200 even for an empty e-Box (the list answers 404).
    let list = format!("{}/ebox", f.registry(PROVIDER));
    assert_eq!(f.get(&list, &token).await.status(), 200);
    assert_eq!(f.get(&list, &token).await.status(), 200);
    let r = f.get(&list, &token).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["message"],
        "the access token has expired"
    );
    // The next token is normal again.
    let token = f.token_a().await;
    for _ in 0..3 {
        assert_eq!(f.get(&list, &token).await.status(), 200);
    }
}

#[tokio::test]
async fn a_page_shifts_when_a_message_arrives_between_requests() {
    let (f, token) = fixture_with_messages(6).await;
    let list = format!("{}/ebox/messages?pageSize=3", f.registry(PROVIDER));
    let (_, page1) = f.get_json(&format!("{list}&page=1"), &token).await;
    fault(&f, json!({"route": "list", "kind": {"type": "shift_page"}, "times": 1})).await;
    let (_, page2) = f.get_json(&format!("{list}&page=2"), &token).await;
    assert_eq!(page2["totalItems"], 7);
    // The last message of page 1 is pushed onto page 2.
    assert_eq!(page2["items"][0]["messageId"], page1["items"][2]["messageId"]);
}

#[tokio::test]
async fn latency_applies_to_every_route() {
    let (f, token) = fixture_with_messages(1).await;
    fault(&f, json!({"route": "any", "kind": {"type": "latency", "ms": 150}})).await;
    let started = std::time::Instant::now();
    assert_eq!(
        f.get(&format!("{}/ebox", f.registry(PROVIDER)), &token).await.status(),
        200
    );
    // A lower bound only: the fault must hold the answer back at least this long.
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
}
