//! `make demo`: the whole system on this machine. Starts moto, the e-Box simulator and the
//! three functions under `cargo lambda watch`, onboards one entity through the connections
//! API step by step and two more directly, fires the schedule twice,
//! prints what was delivered and the events that reached the bus, copies the verdeelbak to
//! `.demo/`, and stops everything.

use std::collections::HashMap;
use std::path::Path;

use delivery::ports::ObjectStore;
use e2e::{System, fixture};

const ENTITIES: [(&str, &str); 3] = [
    ("0403170701", "Agentschap Informatie Vlaanderen (own certificate)"),
    ("0123456749", "Departement Omgeving (own certificate)"),
    (
        "1000000021",
        "Vlaamse Milieumaatschappij (shares the certificate of 0123456749)",
    ),
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    tokio::select! {
        _ = demo() => {}
        _ = tokio::signal::ctrl_c() => eprintln!("\ninterrupted; stopping everything"),
    }
}

async fn demo() {
    step(
        "starting moto (S3, DynamoDB, Secrets Manager), the e-Box simulator, and fetch, fanout and connections under cargo lambda watch",
    );
    let mut system = System::start().await;
    println!(
        "    moto: tables {} and {}, bucket {}",
        system.names.connections_table, system.names.state_table, system.names.verdeelbak_bucket
    );
    println!("    e-Box simulator: {}", system.sim.base_url());
    println!("    Lambda emulator: {}", system.watch.url);

    onboard_through_the_api(&system, ENTITIES[0].0).await;
    step(
        "onboarding two more entities directly: key and certificate made on the spot, registered with e-Box, stored as secrets",
    );
    system.connect(ENTITIES[1].0, true).await;
    system.connect_shared(ENTITIES[2].0, ENTITIES[1].0).await;
    for (id, name) in &ENTITIES[1..] {
        println!("    {id}  {name}");
    }

    let ids: Vec<&str> = ENTITIES.iter().map(|(id, _)| *id).collect();
    let first = tick(&system, &ids, 1).await;
    summary(&first);
    tree(&system, &ids).await;
    let delivered: u64 = first.values().map(|r| r["delivered"].as_u64().unwrap_or(0)).sum();
    events(&system, delivered as usize).await;
    let second = tick(&system, &ids, 2).await;
    summary(&second);

    let (_, _, detail) = system
        .api(
            reqwest::Method::GET,
            &format!("/connections/{}", ENTITIES[0].0),
            None,
            None,
        )
        .await;
    step(&format!(
        "{} through the API after the first tick: onboarding step {}",
        ENTITIES[0].0,
        detail["onboarding"]["step"].as_str().unwrap_or("?")
    ));

    let out = Path::new(".demo");
    let copied = copy_out(&system, out).await;
    step(&format!(
        "{copied} delivered files copied to {}/ (moto keeps them only while it runs)",
        out.join("verdeelbak").display()
    ));
    step("stopping moto, the simulator and cargo lambda watch");
}

/// One entity onboarded as the platform's "connecties" tab does it: each step a request
/// to the connections API (through the emulator's function URL), each answer shown.
async fn onboard_through_the_api(system: &System, entity: &str) {
    use reqwest::Method;
    use serde_json::json;
    step(&format!(
        "onboarding {entity} through the connections API, step by step"
    ));
    let path = format!("/connections/{entity}");
    let show = |what: &str, status: u16, detail: String| println!("    {what:<58} {status}  {detail}");
    let request = json!({"entity_id": entity, "name": ENTITIES[0].1, "facilipunt_reference": "FP-2026-0042"});
    let (status, _, _) = system.api(Method::POST, "/connections", Some(&request), None).await;
    show(
        "POST /connections (the entity's request, no ClientID)",
        status,
        "requested".into(),
    );
    let key = testkit::KeyMaterial::generate("digipost");
    for (step, certificate) in [
        ("certificate_handed_over", Some("digipost-2026")),
        ("waiting_for_client_id", None),
    ] {
        let body = json!({"step": step, "certificate": certificate});
        let (status, _, _) = system
            .api(Method::POST, &format!("{path}/onboarding"), Some(&body), None)
            .await;
        show(&format!("POST {path}/onboarding"), status, step.into());
    }
    let (_, _, detail) = system.api(Method::GET, &path, None, None).await;
    println!(
        "      next ({}): {}",
        detail["onboarding"]["next_by"].as_str().unwrap_or("?"),
        detail["onboarding"]["next"].as_str().unwrap_or("?")
    );
    // The entity makes its REST account with DigiPost's certificate, and sends the ClientID.
    let client_id = format!("client-{entity}");
    system.sim.register(&client_id, entity, &key.certificate_pem).unwrap();
    system
        .sim
        .generate(&ebox_sim::data::Scenario::of(21, entity, 12, 2, 30_000));
    let body = json!({
        "entity_id": entity, "name": ENTITIES[0].1, "client_id": client_id,
        "private_key_pem": key.private_key_pem, "certificate_pem": key.certificate_pem,
    });
    let (status, _, created) = system
        .api(Method::POST, "/connections", Some(&body), Some("demo-create-1"))
        .await;
    show(
        "POST /connections (ClientID and key material), tested",
        status,
        created["test"]["text"]
            .as_str()
            .unwrap_or("?")
            .chars()
            .take(70)
            .collect(),
    );
    let (_, _, detail) = system.api(Method::GET, &path, None, None).await;
    show(
        &format!("GET {path}"),
        200,
        format!(
            "onboarding step: {}",
            detail["onboarding"]["step"].as_str().unwrap_or("?")
        ),
    );
}

fn step(text: &str) {
    println!("\n==> {text}");
}

async fn tick(system: &System, ids: &[&str], n: usize) -> HashMap<String, serde_json::Value> {
    step(&format!("schedule tick {n}: EventBridge's Scheduled Event to fanout"));
    let mark = system.log_mark();
    let report = system
        .invoke("fanout", &fixture("functions/fanout/fixtures/scheduled-event.json"))
        .await;
    println!(
        "    fanout dispatched {} fetch runs ({} disabled, {} failed); waiting for them to report",
        report["dispatched"],
        report["skipped_disabled"],
        report["failed"].as_array().map_or(0, Vec::len)
    );
    system.wait_for_runs(ids, mark).await
}

fn summary(runs: &HashMap<String, serde_json::Value>) {
    println!(
        "\n    {:<12} {:<9} {:>9} {:>8} {:>10} {:>9}",
        "entity", "outcome", "delivered", "failed", "bytes", "took"
    );
    for (id, _) in ENTITIES {
        let r = &runs[id];
        let n = |field: &str| r[field].as_u64().unwrap_or(0);
        println!(
            "    {:<12} {:<9} {:>9} {:>8} {:>10} {:>7}ms",
            id,
            r["outcome"].as_str().unwrap_or("?"),
            n("delivered"),
            n("failed"),
            n("bytes"),
            n("duration_ms")
        );
    }
}

async fn tree(system: &System, ids: &[&str]) {
    step("the verdeelbak (first messages of each entity)");
    for id in ids {
        let objects = system.objects().list(&format!("verdeelbak/{id}/")).await.unwrap();
        println!("    verdeelbak/{id}/  ({} objects)", objects.len());
        for o in objects.iter().take(7) {
            let name = o.key.trim_start_matches(&format!("verdeelbak/{id}/"));
            println!("      {name}  ({} B)", o.size);
        }
        if objects.len() > 7 {
            println!("      ...");
        }
    }
}

/// The events that reached the bus, as a subscriber's queue received them.
async fn events(system: &System, expected: usize) {
    step(&format!(
        "events on the bus {} (a rule sends them to an SQS queue, read here as a subscriber reads it)",
        system.names.event_bus
    ));
    let events = system.tap.received(expected, std::time::Duration::from_secs(30)).await;
    let registered = events.iter().filter(|e| e["detail"]["registered_mail"] == true).count();
    println!(
        "    {} event(s) \"e-Box message delivered\", {registered} of them registered mail",
        events.len()
    );
    println!(
        "\n    {:<12} {:<17} {:<10} {:<38} subject (nl)",
        "entity", "provider", "registered", "event id"
    );
    for e in events.iter().take(8) {
        let d = &e["detail"];
        println!(
            "    {:<12} {:<17} {:<10} {:<38} {}",
            d["entity_id"].as_str().unwrap_or("?"),
            d["provider_id"].as_str().unwrap_or("?"),
            d["registered_mail"].to_string(),
            d["event_id"].as_str().unwrap_or("?"),
            d["subject"]["nl"].as_str().unwrap_or("")
        );
    }
    if events.len() > 8 {
        println!("    ...");
    }
}

async fn copy_out(system: &System, dir: &Path) -> usize {
    let _ = std::fs::remove_dir_all(dir.join("verdeelbak"));
    let objects = system.objects();
    let all = objects.list("verdeelbak/").await.unwrap();
    for o in &all {
        let bytes = objects.get(&o.key).await.unwrap().unwrap_or_default();
        let path = dir.join(&o.key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    all.len()
}
