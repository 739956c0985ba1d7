//! The connections API end to end: real HTTP requests through `cargo lambda watch`'s
//! function-URL emulation to the connections function, against moto and the simulator.
//! An onboarding walked from the request to its first delivered message, each refusal the
//! simulator can give mapped to the entity's step, a create repeated under its key, bad
//! input answered with problem+json and nothing stored, and no secret in any answer or
//! log line.

use e2e::System;
use reqwest::Method;
use serde_json::{Value, json};
use testkit::KeyMaterial;

const A: &str = "0403170701";
const B: &str = "0123456749";
const PROBLEM: &str = "application/problem+json";

fn with_key(entity: &str, client_id: &str, key: &KeyMaterial) -> Value {
    json!({
        "entity_id": entity, "name": format!("Entiteit {entity}"), "client_id": client_id,
        "private_key_pem": key.private_key_pem, "certificate_pem": key.certificate_pem,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_onboarding_through_the_api_from_request_to_first_delivered_message() {
    let system = System::start().await;
    let key = KeyMaterial::generate("digipost");
    let mut answers: Vec<Value> = Vec::new();
    let path = format!("/connections/{A}");

    // Requested, the certificate handed over, waiting for the ClientID.
    let request = json!({"entity_id": "0403.170.701", "name": "Informatie Vlaanderen", "facilipunt_reference": "FP-7"});
    let (status, _, created) = system.api(Method::POST, "/connections", Some(&request), None).await;
    assert_eq!(status, 201, "{created}");
    answers.push(created);
    for step in ["certificate_handed_over", "waiting_for_client_id"] {
        let body = json!({"step": step, "certificate": "digipost-2026"});
        let (status, _, answer) = system
            .api(Method::POST, &format!("{path}/onboarding"), Some(&body), None)
            .await;
        assert_eq!(status, 200, "{answer}");
        answers.push(answer);
    }
    let (_, _, detail) = system.api(Method::GET, &path, None, None).await;
    assert_eq!(detail["onboarding"]["step"], "waiting_for_client_id", "{detail}");
    // Not connected: fanout leaves it alone.
    let tick = system.invoke("fanout", &json!({"trigger": "schedule"})).await;
    assert_eq!(
        (tick["dispatched"].as_u64(), tick["skipped_onboarding"].as_u64()),
        (Some(0), Some(1)),
        "{tick}"
    );

    // The ClientID comes before e-Box knows the account: refused, the step is ChaMan's.
    let (status, _, created) = system
        .api(Method::POST, "/connections", Some(&with_key(A, "client-a", &key)), None)
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (&created["test"]["works"], &created["test"]["action"]),
        (&json!(false), &json!("webservice_account"))
    );
    answers.push(created);
    // The account is made without the Document Consumer scopes (terms not accepted): the
    // refusal names the Document Consumer registration.
    system
        .sim
        .register_with_scopes("client-a", A, &key.certificate_pem, &["scope:other"])
        .unwrap();
    let (_, _, tested) = system.api(Method::POST, &format!("{path}/test"), None, None).await;
    assert_eq!(
        (&tested["works"], &tested["action"]),
        (&json!(false), &json!("document_consumer_registration")),
        "{tested}"
    );
    let (_, _, detail) = system.api(Method::GET, &path, None, None).await;
    assert_eq!(detail["onboarding"]["step"], "client_id_received");
    assert_eq!(
        detail["connection"]["onboarding"]["refusal"]["action"],
        "document_consumer_registration"
    );
    assert_eq!(detail["onboarding"]["next_by"], "entity");
    answers.push(tested);

    // Put right: a test connects it, and the first scheduled run completes the onboarding.
    system.sim.register("client-a", A, &key.certificate_pem).unwrap();
    system.sim.generate(&ebox_sim::data::Scenario::of(5, A, 3, 1, 2_000));
    let (_, _, tested) = system.api(Method::POST, &format!("{path}/test"), None, None).await;
    assert_eq!(tested["works"], true, "{tested}");
    let mark = system.log_mark();
    let tick = system.invoke("fanout", &json!({"trigger": "schedule"})).await;
    assert_eq!(tick["dispatched"], 1, "{tick}");
    let runs = system.wait_for_runs(&[A], mark).await;
    assert_eq!(runs[A]["delivered"], 3, "{}", runs[A]);
    let (_, _, detail) = system.api(Method::GET, &path, None, None).await;
    assert_eq!(detail["onboarding"]["step"], "first_message_delivered", "{detail}");
    assert_eq!(detail["connection"]["onboarding"]["facilipunt_reference"], "FP-7");
    let (_, _, rows) = system.api(Method::GET, "/status", None, None).await;
    assert_eq!(rows[0]["onboarding"], "first_message_delivered", "{rows}");
    answers.push(detail);
    answers.push(tested);

    // No key material in any answer or log line.
    let secret_line = key.private_key_pem.lines().nth(1).unwrap();
    for answer in &answers {
        let text = answer.to_string();
        assert!(!text.contains(secret_line) && !text.contains("PRIVATE KEY"), "{text}");
    }
    let logs = system.watch.logs();
    assert!(
        !logs.contains(secret_line) && !logs.contains("PRIVATE KEY"),
        "a secret in the logs"
    );
    for token in system.sim.issued_tokens() {
        assert!(!logs.contains(&token), "a token in the logs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_repeated_and_bad_input_through_the_api() {
    let system = System::start().await;
    let key = KeyMaterial::generate("digipost");
    system.sim.register("client-b", B, &key.certificate_pem).unwrap();
    let body = with_key(B, "client-b", &key);
    let (status, _, first) = system
        .api(Method::POST, "/connections", Some(&body), Some("create-b-1"))
        .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["test"]["works"], true, "{first}");
    let (status, _, again) = system
        .api(Method::POST, "/connections", Some(&body), Some("create-b-1"))
        .await;
    assert_eq!(
        (status, &again),
        (201, &first),
        "the first answer again, nothing done twice"
    );

    // Bad input: a problem naming the field, and nothing stored.
    let other = KeyMaterial::generate("other");
    let mut mismatched = with_key(A, "client-a", &key);
    mismatched["certificate_pem"] = json!(other.certificate_pem);
    for (body, field) in [
        (json!({"entity_id": "0403170702", "name": "x"}), "entity_id"),
        (json!({"entity_id": A, "name": "x", "colour": "blue"}), "colour"),
        (mismatched, "private_key_pem"),
    ] {
        let (status, content_type, problem) = system.api(Method::POST, "/connections", Some(&body), None).await;
        assert_eq!((status, content_type.as_str()), (422, PROBLEM), "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    let (status, content_type, problem) = system.api(Method::GET, &format!("/connections/{A}"), None, None).await;
    assert_eq!((status, content_type.as_str()), (404, PROBLEM), "{problem}");
    let (_, _, page) = system.api(Method::GET, "/connections", None, None).await;
    let entities: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["entity_id"].as_str().unwrap())
        .collect();
    assert_eq!(entities, [B], "only the one created");
    let logs = system.watch.logs();
    let secret_line = key.private_key_pem.lines().nth(1).unwrap();
    assert!(
        !logs.contains(secret_line) && !logs.contains("PRIVATE KEY"),
        "a secret in the logs"
    );
}
