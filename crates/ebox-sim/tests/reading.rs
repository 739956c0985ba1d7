//! Reading what a registry lists: contents and their digests, bodies, attachments
//! without ids, raw items, reference data, and messages added through the control API.

mod common;

use base64::Engine;
use common::*;
use ebox_sim::data::Scenario;
use serde_json::{Value, json};
use sha2::Digest;

fn scenario(enterprises: &[&str], messages: usize) -> Scenario {
    scenario_at(PROVIDER, enterprises, messages)
}

#[tokio::test]
async fn content_matches_its_digest_and_reading_main_content_marks_read() {
    let f = Fixture::start().await;
    f.sim.generate(&scenario_at(PROVIDER_2, &[ENTERPRISE_A], 3));
    let token = f.token_a().await;
    let base = f.registry(PROVIDER_2);
    // Message 1's body is an annex, so its first attachment is the main content.
    let message = &f.sim.messages(PROVIDER_2, ENTERPRISE_A)[1];
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
                .get_json(&format!("{}/ebox/messages/{id}", f.registry(PROVIDER_2)), &token)
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
    let with_body = &f.sim.messages(PROVIDER_2, ENTERPRISE_A)[0];
    assert!(with_body.body_main_content);
    let (status, body) = f
        .get_json(&format!("{base}/ebox/messages/{}/body", with_body.id), &token)
        .await;
    assert_eq!(status, 200);
    assert!(body["nl"].as_str().unwrap().starts_with("Geachte"));
    assert!(read(with_body.id.clone()).await);
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
    assert_eq!(m["isRegisteredMail"], true);
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
    assert_eq!(m["isRegisteredMail"], true);
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

#[tokio::test]
async fn an_annex_body_is_served_while_body_main_content_is_false() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    for provider in [PROVIDER, PROVIDER_2] {
        f.sim.generate(&scenario_at(provider, &[ENTERPRISE_A], 3));
        let flag = if provider == PROVIDER {
            "isBodyMainContent"
        } else {
            "bodyMainContent"
        };
        let read = if provider == PROVIDER { "isRead" } else { "readStatus" };
        let base = f.registry(provider);
        // Generated message 1 has attachments and a body that is an annex.
        let annexed = &f.sim.messages(provider, ENTERPRISE_A)[1];
        assert!(annexed.body.is_some() && !annexed.body_main_content);
        let (_, meta) = f
            .get_json(&format!("{base}/ebox/messages/{}", annexed.id), &token)
            .await;
        assert_eq!(meta[flag], false, "{provider}");
        let (status, body) = f
            .get_json(&format!("{base}/ebox/messages/{}/body", annexed.id), &token)
            .await;
        assert_eq!(status, 200, "{provider}");
        assert!(body["nl"].as_str().unwrap().starts_with("Toelichting"));
        let (_, meta) = f
            .get_json(&format!("{base}/ebox/messages/{}", annexed.id), &token)
            .await;
        assert_eq!(meta[read], false, "{provider}: an annex body does not make it read");
    }
}

#[tokio::test]
async fn a_message_without_body_says_false_and_answers_404_on_body() {
    let f = Fixture::start().await;
    f.sim.generate(&scenario_at(PROVIDER_2, &[ENTERPRISE_A], 3));
    let token = f.token_a().await;
    let base = f.registry(PROVIDER_2);
    // Generated message 2 has no body; the field is there all the same.
    let bodiless = &f.sim.messages(PROVIDER_2, ENTERPRISE_A)[2];
    assert!(bodiless.body.is_none());
    let (_, meta) = f
        .get_json(&format!("{base}/ebox/messages/{}", bodiless.id), &token)
        .await;
    assert_eq!(meta["bodyMainContent"], false);
    let (status, body) = f
        .get_json(&format!("{base}/ebox/messages/{}/body", bodiless.id), &token)
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "NOT_FOUND");
    // A spec asking for a main-content body without giving one is no main body either.
    let spec = json!({"message_id": "claims-a-body", "body_main_content": true});
    let path = format!("/control/boxes/{PROVIDER_2}/{ENTERPRISE_A}/messages");
    assert_eq!(f.control(reqwest::Method::POST, &path, spec).await.status(), 201);
    let (_, meta) = f.get_json(&format!("{base}/ebox/messages/claims-a-body"), &token).await;
    assert_eq!(meta["bodyMainContent"], false);
}

/// Downloads an attachment through its `contentHref` and checks it against its digest.
async fn download_by_href(f: &Fixture, token: &str, attachment: &Value) -> bytes::Bytes {
    let href = attachment["contentHref"].as_str().unwrap();
    assert!(href.starts_with("http://"), "absolute: {href}");
    let r = f.get(href, token).await;
    assert_eq!(r.status(), 200, "{href}");
    let bytes = r.bytes().await.unwrap();
    let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&bytes));
    assert_eq!(attachment["digest"]["digestValue"], digest);
    bytes
}

#[tokio::test]
async fn an_attachment_without_attachment_id_is_downloaded_by_its_content_href() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    let spec = json!({"message_id": "m-1", "attachments": [
        {"file_name": "Brief.pdf", "content_base64": "aGVsbG8=", "main_content": true, "omit_id": true}
    ]});
    let path = format!("/control/boxes/{PROVIDER_2}/{ENTERPRISE_A}/messages");
    assert_eq!(f.control(reqwest::Method::POST, &path, spec).await.status(), 201);
    let base = f.registry(PROVIDER_2);
    let (_, m) = f.get_json(&format!("{base}/ebox/messages/m-1"), &token).await;
    let attachment = &m["attachments"]["items"][0];
    assert!(attachment.get("attachmentId").is_none(), "{attachment}");
    assert_eq!(&download_by_href(&f, &token, attachment).await[..], b"hello");
    let (_, m) = f.get_json(&format!("{base}/ebox/messages/m-1"), &token).await;
    assert_eq!(m["readStatus"], true, "the main content was read");

    // Generated v3 messages leave out every other attachment's id.
    f.sim.generate(&scenario(&[ENTERPRISE_A], 2));
    let mut unlisted = 0;
    for message in f.sim.messages(PROVIDER, ENTERPRISE_A) {
        let (_, m) = f
            .get_json(
                &format!("{}/ebox/messages/{}", f.registry(PROVIDER), message.id),
                &token,
            )
            .await;
        for attachment in m["attachments"]["items"].as_array().unwrap() {
            if attachment.get("attachmentId").is_none() {
                unlisted += 1;
                assert_eq!(download_by_href(&f, &token, attachment).await.len(), 20_000);
            }
        }
    }
    assert_eq!(unlisted, 2, "one of the two attachments of each message");
}

#[tokio::test]
async fn raw_items_are_served_verbatim_in_receipt_order() {
    let f = Fixture::start().await;
    f.sim.generate(&scenario(&[ENTERPRISE_A], 3));
    let token = f.token_a().await;
    let messages = f.sim.messages(PROVIDER, ENTERPRISE_A);
    let between = json!({"messageId": 42, "subject": "no translations", "extra": [1, {"x": null}]});
    f.sim.add_raw_item(
        PROVIDER,
        ENTERPRISE_A,
        between.clone(),
        messages[1].receipt - chrono::Duration::minutes(1),
    );
    let newest = json!({"raw": "just a string", "received_at": f.sim.now() + chrono::Duration::hours(1)});
    let path = format!("/control/boxes/{PROVIDER}/{ENTERPRISE_A}/raw");
    assert_eq!(f.control(reqwest::Method::POST, &path, newest).await.status(), 201);

    let r = f.get(&f.list_url(PROVIDER), &token).await;
    let text = r.text().await.unwrap();
    assert!(text.contains(&between.to_string()), "verbatim: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["totalItems"], 5);
    let items = body["items"].as_array().unwrap();
    assert_eq!(items[0], "just a string");
    assert_eq!(items[1]["messageId"], messages[0].id);
    assert_eq!(items[2]["messageId"], messages[1].id);
    assert_eq!(items[3], between);
    assert_eq!(items[4]["messageId"], messages[2].id);
    // It pages like any item, and the summary counts it.
    let (_, page2) = f
        .get_json(&format!("{}?pageSize=3&page=2", f.list_url(PROVIDER)), &token)
        .await;
    assert_eq!(page2["items"][0], between);
    let (_, summary) = f.get_json(&format!("{}/ebox", f.registry(PROVIDER)), &token).await;
    assert_eq!(summary["numberOfMessages"], 5);
}

#[tokio::test]
async fn reference_data_is_sent_with_cache_headers_and_pages_short() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    let reference = format!("{}/refData", f.registry(PROVIDER));
    for path in [
        "messageTypes",
        "senderOrganizations/0308357159",
        "senderApplications/myminfin",
    ] {
        let r = f.get(&format!("{reference}/{path}"), &token).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["cache-control"], "max-age=172800", "{path}");
    }
    let (status, _) = f
        .get_json(&format!("{reference}/messageTypes/nonexistent"), &token)
        .await;
    assert_eq!(status, 404);
    f.sim.update_provider(PROVIDER, |p| p.page_limit = 3);
    let (_, page) = f
        .get_json(&format!("{reference}/messageTypes?pageSize=100"), &token)
        .await;
    assert_eq!(
        (page["items"].as_array().unwrap().len(), &page["totalItems"]),
        (3, &json!(4))
    );
    let (_, page) = f
        .get_json(&format!("{reference}/messageTypes?pageSize=2&page=2"), &token)
        .await;
    assert_eq!(page["items"][0]["messageTypeId"], "attest", "offset by the size asked");
}
