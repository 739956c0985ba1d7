//! Provider registry and message registries: paging, filters, isolation, reading.

mod common;

use base64::Engine;
use common::*;
use ebox_sim::data::Scenario;
use ebox_sim::model::Maintenance;
use serde_json::{Value, json};
use sha2::Digest;
use testkit::KeyMaterial;

fn scenario(enterprises: &[&str], messages: usize) -> Scenario {
    Scenario {
        seed: 7,
        enterprises: enterprises.iter().map(|e| e.to_string()).collect(),
        messages_per_enterprise: messages,
        attachments_per_message: 2,
        attachment_size: 20_000,
        providers: vec![PROVIDER.into()],
    }
}

#[tokio::test]
async fn provider_registry_lists_providers_with_their_dates() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    let (status, body) = f.get_json(&f.sim.provider_registry_url(), &token).await;
    assert_eq!(status, 200);
    let providers = body.as_array().unwrap();
    assert!(providers.len() >= 2);
    let ids: Vec<&str> = providers
        .iter()
        .map(|p| p["messageProviderId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "ebox-enterprise",
            "vlaamse-overheid",
            "future-provider",
            "retired-provider"
        ]
    );
    let first = &providers[0];
    assert_eq!(first["messageProviderUrl"], format!("{}/", f.registry(PROVIDER)));
    assert_eq!(first["messageProviderActivationDate"], "2018-01-01");
    assert_eq!(providers[3]["messageProviderDeactivationDate"], "2020-01-01");
    // Inactive providers do not serve.
    let (status, _) = f
        .get_json(&format!("{}/ebox/messages", f.registry("future-provider")), &token)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_provider_in_planned_maintenance_answers_503() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    let now = f.sim.now();
    let window = json!({"startDate": now - chrono::Duration::minutes(5), "endDate": now + chrono::Duration::hours(1)});
    let r = f
        .control(
            reqwest::Method::POST,
            &format!("/control/providers/{PROVIDER_2}/maintenance"),
            window,
        )
        .await;
    assert_eq!(r.status(), 201);
    let (status, body) = f
        .get_json(&format!("{}/ebox/messages", f.registry(PROVIDER_2)), &token)
        .await;
    assert_eq!(status, 503);
    assert_eq!(body["code"], "MAINTENANCE");
    let (_, providers) = f.get_json(&f.sim.provider_registry_url(), &token).await;
    let announced: Vec<Maintenance> =
        serde_json::from_value(providers[1]["messageProviderPlannedMaintenance"].clone()).unwrap();
    assert_eq!(announced.len(), 1);
    // The other provider is unaffected.
    assert_eq!(
        f.get_json(&format!("{}/ebox/messages", f.registry(PROVIDER)), &token)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn listing_pages_newest_first_with_totals() {
    let f = Fixture::start().await;
    f.sim.generate(&scenario(&[ENTERPRISE_A], 230));
    let token = f.token_a().await;
    let list = format!("{}/ebox/messages", f.registry(PROVIDER));
    let mut seen = Vec::new();
    let mut receipts = Vec::new();
    for (page, expected) in [(1, 100), (2, 100), (3, 30), (4, 0)] {
        let (status, body) = f.get_json(&format!("{list}?page={page}&pageSize=100"), &token).await;
        assert_eq!(status, 200);
        assert_eq!(body["totalItems"], 230);
        let items = body["items"].as_array().unwrap();
        assert_eq!(items.len(), expected, "page {page}");
        for m in items {
            seen.push(m["messageId"].as_str().unwrap().to_owned());
            receipts.push(m["receiptDate"].as_str().unwrap().to_owned());
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 230);
    let mut sorted = receipts.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(receipts, sorted, "newest first");
    // The default page size is 25.
    let (_, body) = f.get_json(&list, &token).await;
    assert_eq!(body["items"].as_array().unwrap().len(), 25);
    for bad in [
        "pageSize=101",
        "pageSize=0",
        "page=0",
        "receivedAfter=2026-01-01T00:00:00Z",
        "receivedAfter=yesterday",
        "visible=maybe",
    ] {
        let (status, body) = f.get_json(&format!("{list}?{bad}"), &token).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["code"], "INVALID_PARAMETER");
    }
}

#[tokio::test]
async fn received_after_filters_on_dates() {
    let f = Fixture::start().await;
    f.sim.generate(&scenario(&[ENTERPRISE_A], 40));
    let token = f.token_a().await;
    let all = f.sim.messages(PROVIDER, ENTERPRISE_A);
    let day = all[20].receipt.date_naive();
    let (_, body) = f
        .get_json(
            &format!(
                "{}/ebox/messages?pageSize=100&receivedAfter={day}",
                f.registry(PROVIDER)
            ),
            &token,
        )
        .await;
    let expected = all.iter().filter(|m| m.receipt.date_naive() > day).count();
    assert!(expected > 0 && expected < 40);
    assert_eq!(body["totalItems"], expected);
    let (_, body) = f
        .get_json(
            &format!(
                "{}/ebox/messages?pageSize=100&receivedBefore={day}",
                f.registry(PROVIDER)
            ),
            &token,
        )
        .await;
    assert_eq!(
        body["totalItems"],
        all.iter().filter(|m| m.receipt.date_naive() < day).count()
    );
}

#[tokio::test]
async fn a_token_sees_only_its_own_enterprise() {
    let f = Fixture::start().await;
    f.sim.generate(&scenario(&[ENTERPRISE_A, ENTERPRISE_B], 5));
    let key_b = KeyMaterial::generate("b");
    f.register("client-b", ENTERPRISE_B, &key_b.certificate_pem, None).await;
    let a_only = f.sim.arrive(PROVIDER, ENTERPRISE_A);
    let token_b = f.token_for("client-b", &key_b.private_key_pem).await;
    let base = f.registry(PROVIDER);
    let (status, body) = f.get_json(&format!("{base}/ebox/messages/{a_only}"), &token_b).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "NOT_FOUND");
    assert_eq!(
        f.get_json(
            &format!("{base}/ebox/messages/{a_only}/attachments/att-1/content"),
            &token_b
        )
        .await
        .0,
        404
    );
    let (_, list_b) = f
        .get_json(&format!("{base}/ebox/messages?pageSize=100"), &token_b)
        .await;
    assert_eq!(list_b["totalItems"], 5);
    let (_, list_a) = f
        .get_json(&format!("{base}/ebox/messages?pageSize=100"), &f.token_a().await)
        .await;
    assert_eq!(list_a["totalItems"], 6);
    // Same seed, same ids: two e-Boxes can hold messages with equal ids.
    assert_eq!(list_b["items"][0]["messageId"], list_a["items"][1]["messageId"]);
}

#[tokio::test]
async fn content_matches_its_digest_and_reading_main_content_marks_read() {
    let f = Fixture::start().await;
    f.sim.generate(&scenario(&[ENTERPRISE_A], 3));
    let token = f.token_a().await;
    let base = f.registry(PROVIDER);
    // Message 1 has no body, so its first attachment is the main content.
    let message = &f.sim.messages(PROVIDER, ENTERPRISE_A)[1];
    assert!(!message.body_main_content);
    let (_, meta) = f
        .get_json(&format!("{base}/ebox/messages/{}", message.id), &token)
        .await;
    let attachments = meta["attachments"]["items"].as_array().unwrap();
    assert_eq!(attachments.len(), 2);
    let annex = &attachments[1];
    assert_eq!(annex["mainContent"], false);
    let r = f.get(annex["contentHref"].as_str().unwrap(), &token).await;
    assert_eq!(r.headers()["content-length"], "20000");
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    let bytes = r.bytes().await.unwrap();
    assert_eq!(bytes.len(), 20_000);
    let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&bytes));
    assert_eq!(annex["digest"]["digestValue"], digest);
    assert_eq!(annex["digest"]["digestMethod"], "sha_256");
    let read = |id: String| {
        let f = &f;
        let token = token.clone();
        async move {
            let (_, m) = f
                .get_json(&format!("{}/ebox/messages/{id}", f.registry(PROVIDER)), &token)
                .await;
            m["readStatus"].as_bool().unwrap()
        }
    };
    assert!(!read(message.id.clone()).await, "an annex does not make a message read");
    let main = &attachments[0];
    assert_eq!(main["mainContent"], true);
    f.get(main["contentHref"].as_str().unwrap(), &token)
        .await
        .bytes()
        .await
        .unwrap();
    assert!(read(message.id.clone()).await, "the main content makes it read");

    // A message whose body is its main content becomes read when the body is read.
    let with_body = &f.sim.messages(PROVIDER, ENTERPRISE_A)[0];
    assert!(with_body.body_main_content);
    let (status, body) = f
        .get_json(&format!("{base}/ebox/messages/{}/body", with_body.id), &token)
        .await;
    assert_eq!(status, 200);
    assert!(body["nl"].as_str().unwrap().starts_with("Geachte"));
    assert!(read(with_body.id.clone()).await);
}

#[tokio::test]
async fn expired_and_hidden_messages() {
    let f = Fixture::start().await;
    f.sim.generate(&scenario(&[ENTERPRISE_A], 4));
    let token = f.token_a().await;
    let ids: Vec<String> = f
        .sim
        .messages(PROVIDER, ENTERPRISE_A)
        .iter()
        .map(|m| m.id.clone())
        .collect();
    let r = f
        .control(
            reqwest::Method::POST,
            &format!("/control/boxes/{PROVIDER}/{ENTERPRISE_A}/messages/{}/expire", ids[0]),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let base = f.registry(PROVIDER);
    let (_, list) = f.get_json(&format!("{base}/ebox/messages"), &token).await;
    assert_eq!(list["totalItems"], 3);
    assert_eq!(
        f.get_json(&format!("{base}/ebox/messages/{}", ids[0]), &token).await.0,
        404
    );

    // PATCH hides; hidden messages still count and can be filtered.
    let patch = json!({"items": [{"messageId": ids[1], "visible": false}]});
    let r = f
        .http
        .patch(format!("{base}/ebox/messages"))
        .bearer_auth(&token)
        .header("content-type", "application/merge-patch+json")
        .body(patch.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, visible) = f.get_json(&format!("{base}/ebox/messages?visible=true"), &token).await;
    assert_eq!(visible["totalItems"], 2);
    let (_, summary) = f.get_json(&format!("{base}/ebox"), &token).await;
    assert_eq!(summary["numberOfMessages"], 3);
}

#[tokio::test]
async fn control_api_adds_messages_with_awkward_names_and_counts_requests() {
    let f = Fixture::start().await;
    let body = json!({
        "message_id": "m-1",
        "registered_mail": true,
        "attachments": [
            {"file_name": "../../etc/passwd", "content_base64": "aGVsbG8=", "main_content": true},
            {"file_name": "a\u{7}b.pdf", "size": 1000, "digest": false}
        ]
    });
    let r = f
        .control(
            reqwest::Method::POST,
            &format!("/control/boxes/{PROVIDER}/{ENTERPRISE_A}/messages"),
            body,
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["messageId"], "m-1");
    let token = f.token_a().await;
    let base = f.registry(PROVIDER);
    let (_, m) = f.get_json(&format!("{base}/ebox/messages/m-1"), &token).await;
    assert_eq!(m["attachments"]["items"][0]["fileName"], "../../etc/passwd");
    assert!(m["attachments"]["items"][1].get("digest").is_none());
    assert_eq!(m["registeredMail"], true);
    f.get(&format!("{base}/ebox/messages/m-1/attachments/att-1/content"), &token)
        .await
        .bytes()
        .await
        .unwrap();

    let r = f.http.get(f.url("/control/counters")).send().await.unwrap();
    let rows: Vec<Value> = r.json().await.unwrap();
    let row = |route: &str| {
        rows.iter()
            .find(|r| r["route"] == route && r["enterprise"] == ENTERPRISE_A)
            .cloned()
            .unwrap_or_else(|| panic!("no {route} row in {rows:?}"))
    };
    assert_eq!(row("token")["requests"], 1);
    assert_eq!(row("message")["requests"], 1);
    assert_eq!(row("content")["requests"], 1);
    assert_eq!(row("content")["bytes"], 5);
    assert_eq!(f.sim.requests_of(ENTERPRISE_A), 3);
}

#[tokio::test]
async fn messages_load_from_a_fixture_file() {
    let f = Fixture::start().await;
    let path = format!("{}/fixtures/example.json", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read_to_string(path).unwrap();
    let r = f.http.post(f.url("/control/fixture")).body(body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["messages"], 2);
    let token = f.token_a().await;
    let (_, m) = f
        .get_json(
            &format!("{}/ebox/messages/fixture-aanslag-2026", f.registry(PROVIDER)),
            &token,
        )
        .await;
    assert_eq!(m["registeredMail"], true);
    assert_eq!(m["receiptDate"], "2026-11-20T09:15:00Z");
    assert_eq!(m["attachments"]["totalItems"], 2);
    let annex = f
        .get(
            &format!(
                "{}/ebox/messages/fixture-aanslag-2026/attachments/annex/content",
                f.registry(PROVIDER)
            ),
            &token,
        )
        .await;
    assert_eq!(annex.text().await.unwrap(), "Toelichting bij het aanslagbiljet.\n");
    let (_, body) = f
        .get_json(
            &format!("{}/ebox/messages/fixture-beslissing/body", f.registry(PROVIDER_2)),
            &token,
        )
        .await;
    assert_eq!(body["nl"], "Uw aanvraag is goedgekeurd.");
    let bad = f
        .http
        .post(f.url("/control/fixture"))
        .body("[{\"provider\": 1}]")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}
