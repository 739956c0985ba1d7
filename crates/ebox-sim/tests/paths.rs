//! Where things are found: reference data under `refData` or `referenceData` (one per
//! registry), and one registry named differently by the two discovery endpoints.

mod common;

use common::*;
use ebox_sim::direct::Reachable;
use ebox_sim::model::ApiVersion;
use serde_json::{Value, json};

/// The statuses of a reference list and a lookup under `section` at `provider`.
async fn reference_statuses(f: &Fixture, token: &str, provider: &str, section: &str) -> [u16; 2] {
    let base = format!("{}/{section}", f.registry(provider));
    [
        f.get(&format!("{base}/messageTypes"), token).await.status().as_u16(),
        f.get(&format!("{base}/senderOrganizations/0308357159"), token)
            .await
            .status()
            .as_u16(),
    ]
}

#[tokio::test]
async fn a_v3_registry_serves_ref_data_and_a_v2_registry_reference_data_each_only() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    assert_eq!(reference_statuses(&f, &token, PROVIDER, "refData").await, [200, 200]);
    assert_eq!(
        reference_statuses(&f, &token, PROVIDER, "referenceData").await,
        [404, 404]
    );
    assert_eq!(
        reference_statuses(&f, &token, PROVIDER_2, "referenceData").await,
        [200, 200]
    );
    assert_eq!(reference_statuses(&f, &token, PROVIDER_2, "refData").await, [404, 404]);
    assert_eq!(f.reference_url(PROVIDER), format!("{}/refData", f.registry(PROVIDER)));
    // The other path is not there at all: 404 even without a token.
    let r = f
        .http
        .get(format!("{}/referenceData/messageTypes", f.registry(PROVIDER)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let (_, item) = f
        .get_json(&format!("{}/refData/messageTypes/attest", f.registry(PROVIDER)), &token)
        .await;
    assert_eq!(item["messageTypeId"], "attest");
    // Unknown sections and kinds are 404s too; the message routes are unaffected.
    assert_eq!(reference_statuses(&f, &token, PROVIDER, "ebox").await, [404, 404]);
    assert_eq!(reference_statuses(&f, &token, PROVIDER, "other").await, [404, 404]);
    f.add(PROVIDER, json!({"message_id": "m"})).await;
    assert_eq!(f.total(PROVIDER, "", &token).await, 1);
    assert_eq!(f.message(PROVIDER, "m").await["messageId"], "m");
}

#[tokio::test]
async fn a_provider_s_own_reference_path_overrides_the_version() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    f.sim
        .update_provider(PROVIDER, |p| p.reference_path = Some("referenceData".into()));
    f.sim
        .update_provider(PROVIDER_2, |p| p.reference_path = Some("refData".into()));
    assert_eq!(
        reference_statuses(&f, &token, PROVIDER, "referenceData").await,
        [200, 200]
    );
    assert_eq!(reference_statuses(&f, &token, PROVIDER, "refData").await, [404, 404]);
    assert_eq!(reference_statuses(&f, &token, PROVIDER_2, "refData").await, [200, 200]);
    assert_eq!(
        reference_statuses(&f, &token, PROVIDER_2, "referenceData").await,
        [404, 404]
    );
    f.sim
        .update_provider(PROVIDER_2, |p| p.reference_path = Some("reference-data".into()));
    assert_eq!(
        reference_statuses(&f, &token, PROVIDER_2, "reference-data").await,
        [200, 200]
    );
    assert_eq!(reference_statuses(&f, &token, PROVIDER_2, "refData").await, [404, 404]);
}

#[tokio::test]
async fn reference_item_at_answers_as_the_route_of_that_registry() {
    let f = Fixture::start().await;
    let v3 = f.sim.reachable(&f.registry(PROVIDER)).unwrap();
    let v2 = f.sim.reachable(&f.registry(PROVIDER_2)).unwrap();
    let lookup = |at: &Reachable, path: &str| f.sim.reference_item_at(at, path, "senderOrganizations", "0308357159");
    let expected = f.sim.reference_item("senderOrganizations", "0308357159").unwrap();
    assert_eq!(expected["organizationId"], "0308357159");
    assert_eq!(lookup(&v3, "refData"), Some(expected.clone()));
    assert_eq!(lookup(&v3, "referenceData"), None);
    assert_eq!(lookup(&v2, "referenceData"), Some(expected));
    assert_eq!(lookup(&v2, "refData"), None);
    assert_eq!(f.sim.reference_item_at(&v3, "refData", "messageTypes", "none"), None);
    assert_eq!(f.sim.reference_item_at(&v3, "refData", "noKind", "attest"), None);
}

/// `(id, url)` of each entry of a discovery answer, by the names of that answer.
fn entries(list: &Value, id: &str, url: &str) -> Vec<(String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| (p[id].as_str().unwrap().to_owned(), p[url].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn the_two_discoveries_name_one_registry_differently() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    let (_, older) = f.get_json(&f.sim.message_providers_url(), &token).await;
    let (_, current) = f.get_json(&f.sim.document_provider_registry_url(), &token).await;
    let older = entries(&older, "messageProviderId", "messageProviderUrl");
    let current = entries(&current["items"], "id", "messageRegistryUrl");
    let v3_url = format!("{}/", f.registry(PROVIDER));
    let v2_url = format!("{}/", f.registry(PROVIDER_2));
    assert_eq!(
        older[..2],
        [
            ("EBOXENT".into(), v3_url.clone()),
            ("VO-REGISTRY".into(), v2_url.clone())
        ]
    );
    assert_eq!(
        current[..2],
        [(PROVIDER.into(), v3_url.clone()), (PROVIDER_2.into(), v2_url)]
    );
    // One provider of the older list is looked up by the id that list gives it.
    let one = async |id: &str| {
        let url = format!("{}/{id}", f.sim.message_providers_url());
        f.get_json(&url, &token).await
    };
    let (status, found) = one("EBOXENT").await;
    assert_eq!((status, &found["messageProviderUrl"]), (200, &json!(v3_url)));
    assert_eq!(one(PROVIDER).await.0, 404);
    // Renamed in the current registry only; the URL stays.
    f.sim
        .update_provider(PROVIDER, |p| p.listed_id = Some("renamed".into()));
    let renamed = f.sim.message_registries_json();
    assert_eq!(renamed["items"][0]["id"], "renamed");
    assert_eq!(renamed["items"][0]["messageRegistryUrl"], v3_url.as_str());
    let (_, older) = f.get_json(&f.sim.message_providers_url(), &token).await;
    assert_eq!(older[0]["messageProviderId"], "EBOXENT");
    f.add(PROVIDER, json!({"message_id": "m"})).await;
    assert_eq!(f.total(PROVIDER, "", &token).await, 1, "the registry still answers");
}

#[tokio::test]
async fn a_provider_moved_to_v3_is_announced_and_served_as_v3() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    f.sim.generate(&scenario_at(PROVIDER_2, &[ENTERPRISE_A], 3));
    let old_list = f.list_url(PROVIDER_2);
    let (_, before) = f.get_json(&old_list, &token).await;
    assert!(before["items"][0]["senderOrganizationId"].is_string());
    f.sim.update_provider(PROVIDER_2, |p| p.api_version = ApiVersion::V3);
    let url = f.registry(PROVIDER_2);
    assert!(url.ends_with("/registries/vlaamse-overheid/v3"), "{url}");
    let (_, older) = f.get_json(&f.sim.message_providers_url(), &token).await;
    assert_eq!(
        (&older[1]["messageProviderUrl"], &older[1]["apiSupportedVersion"]),
        (&json!(format!("{url}/")), &json!("3.0"))
    );
    let current = f.sim.message_registries_json();
    assert_eq!(current["items"][1]["messageRegistryUrl"], format!("{url}/"));
    assert_eq!(f.get_json(&old_list, &token).await.0, 404, "the v2 URL is gone");
    // What was rendered as v2 is rendered anew, with the hrefs of the new URL.
    let (_, after) = f.get_json(&f.list_url(PROVIDER_2), &token).await;
    let first = &after["items"][0];
    assert_eq!(first["sender"]["eboxType"], "enterprise");
    assert!(first.get("senderOrganizationId").is_none(), "{first}");
    let href = first["attachments"]["items"][0]["contentHref"].as_str().unwrap();
    assert!(href.starts_with(&format!("{url}/ebox/messages/")), "{href}");
    assert_eq!(reference_statuses(&f, &token, PROVIDER_2, "refData").await, [200, 200]);
    assert_eq!(
        reference_statuses(&f, &token, PROVIDER_2, "referenceData").await,
        [404, 404]
    );
}
