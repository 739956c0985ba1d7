//! Provider registry and message registries: paging, filters, isolation, expiry and
//! hiding. Reading what is listed is in `reading.rs`.

mod common;

use common::*;
use ebox_sim::data::Scenario;
use ebox_sim::model::Maintenance;
use serde_json::json;
use testkit::KeyMaterial;

fn scenario(enterprises: &[&str], messages: usize) -> Scenario {
    scenario_at(PROVIDER, enterprises, messages)
}

#[tokio::test]
async fn the_older_provider_registry_lists_providers_with_their_dates() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    let (status, body) = f.get_json(&f.sim.message_providers_url(), &token).await;
    assert_eq!(status, 200);
    let providers = body.as_array().unwrap();
    assert!(providers.len() >= 2);
    let ids: Vec<&str> = providers
        .iter()
        .map(|p| p["messageProviderId"].as_str().unwrap())
        .collect();
    // The older list knows the two active providers by other names than the current one.
    assert_eq!(ids, ["EBOXENT", "VO-REGISTRY", "future-provider", "retired-provider"]);
    let first = &providers[0];
    assert_eq!(first["messageProviderUrl"], format!("{}/", f.registry(PROVIDER)));
    assert!(first["messageProviderUrl"].as_str().unwrap().ends_with("/v3/"));
    assert_eq!(first["apiSupportedVersion"], "3.0");
    assert_eq!(first["messageProviderActivationDate"], "2018-01-01");
    assert!(first.get("messageProviderDeactivationDate").is_none());
    assert!(
        first.get("messageProviderPlannedMaintenance").is_none(),
        "optional, left out when empty"
    );
    let second = &providers[1];
    assert!(
        second["messageProviderUrl"]
            .as_str()
            .unwrap()
            .ends_with("/registries/vlaamse-overheid/v2/")
    );
    assert_eq!(second["apiSupportedVersion"], "2.1");
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
    let (_, providers) = f.get_json(&f.sim.message_providers_url(), &token).await;
    let announced: Vec<Maintenance> =
        serde_json::from_value(providers[1]["messageProviderPlannedMaintenance"].clone()).unwrap();
    assert_eq!(announced.len(), 1);
    let (_, registries) = f.get_json(&f.sim.document_provider_registry_url(), &token).await;
    let announced: Vec<Maintenance> =
        serde_json::from_value(registries["items"][1]["plannedMaintenances"].clone()).unwrap();
    assert_eq!(announced.len(), 1);
    // The other provider is unaffected.
    assert_eq!(
        f.get_json(&format!("{}/ebox", f.registry(PROVIDER)), &token).await.0,
        200
    );
}

/// The ids a page serves, asserting the true total; None for a 404.
async fn page_ids(f: &Fixture, token: &str, query: &str) -> Option<Vec<String>> {
    let (status, body) = f.get_json(&format!("{}?{query}", f.list_url(PROVIDER)), token).await;
    if status == 404 {
        assert_eq!(body["message"], "No messages found", "{query}");
        return None;
    }
    assert_eq!(status, 200, "{query}: {body}");
    assert_eq!(body["totalItems"], 230, "{query}: the true count, whatever the page");
    let items = body["items"].as_array().unwrap();
    Some(
        items
            .iter()
            .map(|m| m["messageId"].as_str().unwrap().to_owned())
            .collect(),
    )
}

#[tokio::test]
async fn pages_are_short_and_offset_by_the_size_asked() {
    let f = Fixture::start().await;
    f.sim.generate(&scenario(&[ENTERPRISE_A], 230));
    let token = f.token_a().await;
    let all: Vec<String> = f
        .sim
        .messages(PROVIDER, ENTERPRISE_A)
        .into_iter()
        .map(|m| m.id)
        .collect();
    // Asking 100 gets 50 (the registry's limit), yet page 2 starts at item 100: counting
    // pages up while asking 100 skips items 50..100 and 150..200.
    for (page, start, len) in [(1, 0, 50), (2, 100, 50), (3, 200, 30)] {
        let ids = page_ids(&f, &token, &format!("page={page}&pageSize=100"))
            .await
            .unwrap();
        assert_eq!(ids, all[start..start + len], "page {page}");
    }
    assert_eq!(page_ids(&f, &token, "page=4&pageSize=100").await, None);
    // Asking what the registry serves walks everything, newest first, without gaps.
    let mut walked = Vec::new();
    for page in 1.. {
        match page_ids(&f, &token, &format!("page={page}&pageSize=50")).await {
            Some(ids) => walked.extend(ids),
            None => break,
        }
    }
    assert_eq!(walked, all);
    let receipts: Vec<_> = f
        .sim
        .messages(PROVIDER, ENTERPRISE_A)
        .iter()
        .map(|m| m.receipt)
        .collect();
    assert!(receipts.is_sorted_by(|a, b| a >= b), "newest first");
    // The default page size is 25.
    assert_eq!(page_ids(&f, &token, "").await.unwrap().len(), 25);
    // A provider's own limit.
    f.sim.update_provider(PROVIDER, |p| p.page_limit = 7);
    assert_eq!(page_ids(&f, &token, "pageSize=100").await.unwrap(), all[..7]);
    let list = f.list_url(PROVIDER);
    for bad in [
        "pageSize=101",
        "pageSize=0",
        "page=0",
        "receivedAfter=2026-01-01T00:00:00Z",
        "receivedAfter=yesterday",
        "visible=maybe",
        "isRead=maybe",
    ] {
        let (status, body) = f.get_json(&format!("{list}?{bad}"), &token).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["code"], "INVALID_PARAMETER");
    }
}

#[tokio::test]
async fn an_empty_list_answers_404_no_messages_found() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    for provider in [PROVIDER, PROVIDER_2] {
        let (status, body) = f.get_json(&f.list_url(provider), &token).await;
        assert_eq!(status, 404, "{provider}");
        assert_eq!(body["message"], "No messages found");
        assert!(body["id"].is_string() && body["code"].is_string());
    }
    // A filter that selects nothing, too; the summary of an empty e-Box is fine.
    f.sim.generate(&scenario(&[ENTERPRISE_A], 3));
    let (status, _) = f
        .get_json(&format!("{}?messageTypeId=none", f.list_url(PROVIDER)), &token)
        .await;
    assert_eq!(status, 404);
    let (status, summary) = f.get_json(&format!("{}/ebox", f.registry(PROVIDER_2)), &token).await;
    assert_eq!((status, summary["numberOfMessages"].as_u64()), (200, Some(0)));
    // Reference data lists past the end are empty lists, not 404s.
    let (status, body) = f
        .get_json(&format!("{}/refData/messageTypes?page=9", f.registry(PROVIDER)), &token)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["items"], json!([]));
    assert_eq!(body["totalItems"], 4);
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

    // PATCH hides; hidden messages still count, but are listed only when asked for.
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
    let (_, listed) = f.get_json(&format!("{base}/ebox/messages"), &token).await;
    assert_eq!(listed["totalItems"], 2);
    let (_, hidden) = f.get_json(&format!("{base}/ebox/messages?visible=false"), &token).await;
    assert_eq!(hidden["totalItems"], 1);
    assert_eq!(hidden["items"][0]["messageId"], ids[1].as_str());
    let (_, summary) = f.get_json(&format!("{base}/ebox"), &token).await;
    assert_eq!(summary["numberOfMessages"], 3);
}
