//! Events end to end: fetch under `cargo lambda watch` publishes on moto's EventBridge,
//! a rule sends them to an SQS queue, and the test reads them there as a subscriber
//! would. The functions reach AWS through a fault proxy, so `PutEvents` can fail.

use std::collections::BTreeSet;
use std::time::Duration;

use delivery::EntityId;
use delivery::aws::{EventBridgeBus, S3Objects};
use delivery::verdeelbak::event::event_id;
use e2e::System;
use serde_json::{Value, json};
use testkit::fault_proxy::{Fault, Outcome as Answer, Rule};

const A: &str = "0403170701";
const B: &str = "0123456749";
const PROVIDERS: [&str; 2] = ["ebox-enterprise", "vlaamse-overheid"];
const WAIT: Duration = Duration::from_secs(30);

/// The ids of the events of every message the simulator holds for `entity`.
fn expected_ids(system: &System, entity: &str) -> BTreeSet<String> {
    PROVIDERS
        .iter()
        .flat_map(|p| {
            system
                .sim
                .messages(p, entity)
                .into_iter()
                .map(move |m| event_id(entity, p, &m.id))
        })
        .collect()
}

fn ids_of<'a>(events: impl IntoIterator<Item = &'a Value>, entity: &str) -> Vec<String> {
    events
        .into_iter()
        .filter(|e| e["detail"]["entity_id"] == entity)
        .map(|e| e["detail"]["event_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_mail_is_announced_never_lost_and_replayable() {
    let mut system = System::through_proxy().await;
    system.connect(A, true).await;
    system.connect(B, true).await;
    let proxy = system.proxy.as_ref().unwrap();
    // Two registered letters for A: one already opened in the web UI, one not.
    let first_two: Vec<String> = system
        .sim
        .messages(PROVIDERS[0], A)
        .iter()
        .take(2)
        .map(|m| m.id.clone())
        .collect();
    let (opened, unopened) = (&first_two[0], &first_two[1]);
    for (id, read) in [(opened, true), (unopened, false)] {
        system.sim.update_message(PROVIDERS[0], A, id, |m, _| {
            m.registered_mail = true;
            m.read = read;
        });
    }
    let before = chrono::Utc::now();

    // EventBridge refuses every call of A's run: the mail is delivered all the same.
    let before_a = proxy.log().len();
    proxy.inject(Rule::on("events:PutEvents").times(1_000).fault(Fault::ServerError));
    let down = system.invoke("fetch", &json!({"entity_id": A})).await;
    assert_eq!(
        (down["outcome"].as_str(), down["delivered"].as_u64()),
        (Some("ok"), Some(12)),
        "{down}"
    );
    assert_eq!(down["events"]["pending"], 12, "{down}");
    system.assert_delivered(A).await;
    let publishes: Vec<_> = proxy.log()[before_a..]
        .iter()
        .filter(|e| e.operation == "events:PutEvents")
        .map(|e| e.outcome.clone())
        .collect();
    assert!(
        !publishes.is_empty() && publishes.iter().all(|o| matches!(o, Answer::Injected(_))),
        "every publish went through the proxy and failed: {publishes:?}"
    );
    // And then the entries of B's first publish fail inside an answer that succeeds
    // (FailedEntryCount): as many as that call carried (events go ten a call).
    proxy.clear();
    let seen = proxy.log().len();
    proxy.inject(Rule::on("events:PutEvents").times(1).fault(Fault::EntriesFailed));
    let partial = system.invoke("fetch", &json!({"entity_id": B})).await;
    assert_eq!(partial["delivered"], 12, "{partial}");
    let failed = proxy.log()[seen..]
        .iter()
        .find(|e| e.operation == "events:PutEvents")
        .map(|e| e.items as u64)
        .expect("B's run published");
    assert!((1..12).contains(&failed), "{failed} of B's 12 events in its first call");
    assert_eq!(
        (
            partial["events"]["published"].as_u64(),
            partial["events"]["pending"].as_u64()
        ),
        (Some(12 - failed), Some(failed)),
        "{partial}"
    );
    system.assert_delivered(B).await;
    proxy.clear();
    let taken = (12 - failed) as usize;
    assert_eq!(
        system.tap.received(taken, WAIT).await.len(),
        taken,
        "only B's published ones so far"
    );

    // The next runs publish exactly what is pending, and deliver nothing again.
    for (entity, pending) in [(A, 12), (B, failed)] {
        let next = system.invoke("fetch", &json!({"entity_id": entity})).await;
        assert_eq!(next["delivered"], 0, "{next}");
        assert_eq!(
            (next["events"]["published"].as_u64(), next["events"]["pending"].as_u64()),
            (Some(pending), Some(0)),
            "{next}"
        );
    }
    let events = system.tap.received(24, WAIT).await;
    for entity in [A, B] {
        let ids = ids_of(&events, entity);
        assert_eq!(ids.len(), 12, "{entity}: one event per message, none twice");
        assert_eq!(ids.into_iter().collect::<BTreeSet<_>>(), expected_ids(&system, entity));
    }

    // Each carries what a router needs, as message.json says it, and nothing secret.
    let objects = S3Objects::new(&system.clients, &system.names.verdeelbak_bucket);
    for e in &events {
        assert_eq!(e["source"], "digipost-ebox");
        assert_eq!(e["detail-type"], "e-Box message delivered");
        let d = &e["detail"];
        let stored = delivery::ports::ObjectStore::get(&objects, d["message_json_key"].as_str().unwrap())
            .await
            .unwrap()
            .expect("the message.json the event names");
        let m: Value = serde_json::from_slice(&stored).unwrap();
        for field in [
            "message_id",
            "provider_id",
            "received_at",
            "expires_at",
            "registered_mail",
            "subject",
            "sender",
            "message_type",
            "retrieved_at",
            "read_before_retrieval",
        ] {
            assert_eq!(d[field], m[field], "{field}");
        }
        assert_eq!(d["attachments"]["count"], m["attachments"].as_array().unwrap().len());
        let text = e.to_string();
        if let Some(body) = m["body"]["nl"].as_str() {
            assert!(!text.contains(body), "a body in an event");
        }
        for key in &system.keys {
            for line in key.private_key_pem.lines().filter(|l| !l.starts_with("-----")) {
                assert!(!text.contains(line), "a private key in an event");
            }
        }
        for token in system.sim.issued_tokens() {
            assert!(!text.contains(&token), "an access token in an event");
        }
    }

    // Registered mail's retrieval moment, in its event as in its message.json.
    let of = |id: &str| {
        let wanted = event_id(A, PROVIDERS[0], id);
        events
            .iter()
            .find(|e| e["detail"]["event_id"] == wanted.as_str())
            .unwrap()["detail"]
            .clone()
    };
    let (seen, fresh) = (of(opened), of(unopened));
    assert_eq!(
        (
            seen["registered_mail"].as_bool(),
            seen["read_before_retrieval"].as_bool()
        ),
        (Some(true), Some(true))
    );
    assert_eq!(
        (
            fresh["registered_mail"].as_bool(),
            fresh["read_before_retrieval"].as_bool()
        ),
        (Some(true), Some(false))
    );
    for d in [&seen, &fresh] {
        let at: chrono::DateTime<chrono::Utc> = d["retrieved_at"].as_str().unwrap().parse().unwrap();
        assert!(
            at >= before - chrono::Duration::seconds(1) && at <= chrono::Utc::now(),
            "{d}"
        );
    }
    assert!(
        system.sim.messages(PROVIDERS[0], A).iter().all(|m| m.read),
        "every message retrieved"
    );

    // A replay from the ledger publishes A's events again, with the same ids.
    let bus = EventBridgeBus::new(system.clients.events.clone(), &system.names.event_bus);
    let state = system.state();
    let id = EntityId::parse(A).unwrap();
    let replay = delivery::events::replay(&state, &objects, &bus, &id, None)
        .await
        .unwrap();
    assert_eq!(
        (replay.rows, replay.published, replay.failed.len()),
        (12, 12, 0),
        "{replay:?}"
    );
    let after = system.tap.received(36, WAIT).await;
    let again: Vec<String> = ids_of(&after[24..], A);
    assert_eq!(again.len(), 12, "only A's, once each");
    assert_eq!(again.into_iter().collect::<BTreeSet<_>>(), expected_ids(&system, A));
}
