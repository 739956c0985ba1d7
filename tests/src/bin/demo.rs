//! `make demo`: the whole system on this machine. Starts moto, the e-Box simulator and both
//! functions under `cargo lambda watch`, onboards three entities, fires the schedule twice,
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
        "starting moto (S3, DynamoDB, Secrets Manager), the e-Box simulator, and fetch + fanout under cargo lambda watch",
    );
    let mut system = System::start().await;
    println!(
        "    moto: tables {} and {}, bucket {}",
        system.names.connections_table, system.names.state_table, system.names.verdeelbak_bucket
    );
    println!("    e-Box simulator: {}", system.sim.base_url());
    println!("    Lambda emulator: {}", system.watch.url);

    step("onboarding three entities: key and certificate made on the spot, registered with e-Box, stored as secrets");
    system.connect(ENTITIES[0].0, true).await;
    system.connect(ENTITIES[1].0, true).await;
    system.connect_shared(ENTITIES[2].0, ENTITIES[1].0).await;
    for (id, name) in ENTITIES {
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

    let out = Path::new(".demo");
    let copied = copy_out(&system, out).await;
    step(&format!(
        "{copied} delivered files copied to {}/ (moto keeps them only while it runs)",
        out.join("verdeelbak").display()
    ));
    step("stopping moto, the simulator and cargo lambda watch");
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
