//! The whole system the way AWS runs it: moto for S3, DynamoDB and Secrets Manager, the
//! e-Box simulator, and both functions under `cargo lambda watch`, fanout reaching fetch
//! through the Invoke API.

use delivery::ports::ObjectStore;
use e2e::{System, fixture};
use serde_json::json;

const A: &str = "0403170701";
const B: &str = "0123456749";
const C: &str = "1000000021";
const D: &str = "0200000043";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_tick_delivers_every_enabled_connection_once() {
    let mut system = System::start().await;
    system.connect(A, true).await;
    system.connect(B, true).await;
    system.connect(C, false).await;
    let entities = [A, B];
    let mark = system.log_mark();

    let report = system
        .invoke("fanout", &fixture("functions/fanout/fixtures/scheduled-event.json"))
        .await;
    assert_eq!(report["dispatched"], 2, "{report}");
    assert_eq!(report["skipped_disabled"], 1);
    let first = system.wait_for_runs(&entities, mark).await;
    for e in entities {
        assert_eq!(first[e]["outcome"], "ok", "{}", first[e]);
        assert_eq!(first[e]["delivered"], 12);
        system.assert_delivered(e).await;
    }
    assert_v3_beside_v2(&system, A).await;
    // The disabled connection was not touched.
    assert!(system.last_run(C).await.is_none());
    assert!(
        system
            .objects()
            .list("verdeelbak/1000000021/")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(system.sim.requests_of(C), 0);

    // A second tick (the Scheduler's own input this time) delivers nothing twice.
    let mark = system.log_mark();
    let report = system
        .invoke("fanout", &fixture("functions/fanout/fixtures/scheduler-input.json"))
        .await;
    assert_eq!(report["dispatched"], 2);
    let runs = system.wait_for_runs(&entities, mark).await;
    for e in entities {
        assert_eq!(runs[e]["outcome"], "ok");
        assert_eq!(runs[e]["delivered"], 0, "{}", runs[e]);
        system.assert_delivered(e).await;
        // Nothing changed, so nothing was written: the stored status is the first tick's.
        assert_eq!(system.last_run(e).await.unwrap()["run_id"], first[e]["run_id"]);
    }

    // By hand, for one entity: the fetch function answers with its report.
    system.sim.arrive("ebox-enterprise", A);
    let report = system
        .invoke("fetch", &fixture("functions/fetch/fixtures/manual-single-entity.json"))
        .await;
    assert_eq!(report["outcome"], "ok", "{report}");
    assert_eq!(report["delivered"], 1);
    let invalid = system.invoke("fetch", &json!({"entity_id": "0403170702"})).await;
    assert_eq!(invalid["outcome"], "failed");
    assert_eq!(invalid["error"]["step"], "input");
    let not_a_request = system.invoke("fetch", &json!({"entity": A})).await;
    assert_eq!(not_a_request["outcome"], "failed", "{not_a_request}");
    assert!(
        not_a_request["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field"),
        "{not_a_request}"
    );

    // Nothing secret in what the functions logged.
    let logs = system.watch.logs();
    assert!(
        logs.lines().any(|l| delivery::handlers::logged_run_report(l).is_some()),
        "the functions logged their reports"
    );
    for token in system.sim.issued_tokens() {
        assert!(!logs.contains(&token), "an access token is in the logs");
    }
    for key in &system.keys {
        for line in key.private_key_pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!logs.contains(line), "a private key is in the logs");
        }
    }
    assert!(!logs.contains("eyJ"), "a client assertion is in the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_secret_and_a_provider_down_stop_no_one_else() {
    let mut system = System::start().await;
    system.connect(A, true).await;
    system.connect(B, true).await;
    system.connect(D, true).await;
    // B's secret is broken; one provider answers 503 to D for a while.
    system
        .clients
        .secrets
        .put_secret_value()
        .secret_id(system.secret_id(B))
        .secret_string("{\"client_id\": \"client-0123456749\"}")
        .send()
        .await
        .unwrap();
    system.sim.add_fault(
        serde_json::from_value(json!({"route": "any", "provider": "vlaamse-overheid", "enterprise": D, "kind": {"type": "status", "status": 503}}))
            .unwrap(),
    );
    let entities = [A, B, D];
    let mark = system.log_mark();
    let report = system.invoke("fanout", &json!({"entities": entities})).await;
    assert_eq!(report["dispatched"], 3, "{report}");
    let runs = system.wait_for_runs(&entities, mark).await;

    assert_eq!(runs[A]["outcome"], "ok");
    system.assert_delivered(A).await;

    assert_eq!(runs[B]["outcome"], "failed", "{}", runs[B]);
    assert_eq!(runs[B]["error"]["step"], "secret");
    let reason = runs[B]["error"]["message"].as_str().unwrap();
    assert!(reason.contains(B) && reason.contains("private_key_pem"), "{reason}");
    assert!(
        system
            .objects()
            .list("verdeelbak/0123456749/")
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(runs[D]["outcome"], "partial", "{}", runs[D]);
    let down = runs[D]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider_id"] == "vlaamse-overheid")
        .unwrap();
    assert!(down["error"].as_str().unwrap().contains("503"), "{down}");
    let up = runs[D]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider_id"] == "ebox-enterprise")
        .unwrap();
    // Delivered by this run or, should the emulator have run it twice, by the one before.
    assert_eq!(
        up["delivered"].as_u64().unwrap() + up["already_delivered"].as_u64().unwrap(),
        6,
        "{up}"
    );
    let delivered = system
        .objects()
        .list("verdeelbak/0200000043/ebox-enterprise/")
        .await
        .unwrap();
    assert_eq!(delivered.iter().filter(|o| o.key.ends_with("/message.json")).count(), 6);
    assert!(
        system
            .objects()
            .list("verdeelbak/0200000043/vlaamse-overheid/")
            .await
            .unwrap()
            .is_empty()
    );
}

/// A v3 registry in the shape of the provider migration notes beside a v2 one: the same
/// normalised fields, the v3 names looked up by the sender's enterprise number under
/// `refData`, inline bodies stored without a body call, the partition from `recipient`.
async fn assert_v3_beside_v2(system: &System, entity: &str) {
    let mut inline = 0;
    for (provider, version) in [("ebox-enterprise", "v3"), ("vlaamse-overheid", "v2")] {
        let prefix = format!("verdeelbak/{entity}/{provider}/");
        let listed = system.objects().list(&prefix).await.unwrap();
        let jsons: Vec<_> = listed.iter().filter(|o| o.key.ends_with("/message.json")).collect();
        assert!(!jsons.is_empty(), "{prefix}");
        for o in jsons {
            let bytes = system.objects().get(&o.key).await.unwrap().unwrap();
            let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(m["registry_version"], version);
            assert!(m["sender"]["organization"]["name"]["nl"].is_string(), "{m:#}");
            assert!(m["message_type"]["name"]["nl"].is_string(), "{m:#}");
            if version == "v3" {
                assert!(m["ebox"]["sender"]["enterpriseNumber"].is_string(), "{m:#}");
                assert!(m["ebox"].get("senderOrganizationId").is_none());
                assert_eq!(m["partition"], "GENERAL");
                assert_eq!(m["ebox"]["recipient"]["partition"], "GENERAL");
            }
            match (m["ebox"].get("bodyContent"), m["body_source"].as_str()) {
                (Some(_), source) => {
                    assert_eq!(source, Some("inline"), "{m:#}");
                    inline += 1;
                }
                (None, Some(source)) => assert_eq!(source, "body_call"),
                (None, None) => assert!(m["body"].is_null()),
            }
        }
    }
    assert!(inline > 0, "some v3 bodies came inline");
}
