//! Both provider discoveries, and Message Registry v2 and v3 side by side.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{Value, json};

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

#[tokio::test]
async fn the_document_provider_registry_lists_registries_under_other_names() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    assert_eq!(f.sim.provider_registry_url(), f.sim.document_provider_registry_url());
    assert!(
        f.sim
            .provider_registry_url()
            .ends_with("/REST/ebox/enterprise/federation/documentProviderRegistry/v1/messageRegistries")
    );
    let (status, body) = f.get_json(&f.sim.provider_registry_url(), &token).await;
    assert_eq!(status, 200);
    assert_eq!(keys(&body), set(&["items", "totalItems"]));
    assert_eq!(body["totalItems"], 4);
    let items = body["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "ebox-enterprise",
            "vlaamse-overheid",
            "future-provider",
            "retired-provider"
        ]
    );
    let first = &items[0];
    assert_eq!(
        keys(first),
        set(&[
            "id",
            "name",
            "messageRegistryUrl",
            "apiSupportedVersion",
            "activationDate",
            "technicalContact"
        ])
    );
    assert_eq!(first["messageRegistryUrl"], format!("{}/", f.registry(PROVIDER)));
    assert!(
        first["messageRegistryUrl"]
            .as_str()
            .unwrap()
            .ends_with("/registries/ebox-enterprise/v3/")
    );
    assert_eq!(first["apiSupportedVersion"], "3.0");
    assert_eq!(first["activationDate"], "2018-01-01");
    assert_eq!(first["name"]["fr"], "e-Box Enterprise");
    assert_eq!(items[1]["apiSupportedVersion"], "2.1");
    assert!(items[1]["messageRegistryUrl"].as_str().unwrap().ends_with("/v2/"));
    assert_eq!(items[3]["deactivationDate"], "2020-01-01");
    // No name of the older list is reused.
    for item in items {
        assert!(keys(item).iter().all(|k| !k.starts_with("messageProvider")), "{item}");
    }
    // Both discoveries count as `providers`.
    f.get_json(&f.sim.message_providers_url(), &token).await;
    assert_eq!(f.sim.counters()[&("providers".into(), ENTERPRISE_A.into())].requests, 2);
}

#[tokio::test]
async fn a_version_segment_the_provider_does_not_speak_answers_404() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    let base = f.sim.base_url();
    for (path, status) in [
        ("/registries/ebox-enterprise/v3/ebox", 200),
        ("/registries/ebox-enterprise/v2/ebox", 404),
        ("/registries/vlaamse-overheid/v2/ebox", 200),
        ("/registries/vlaamse-overheid/v3/ebox", 404),
        ("/registries/vlaamse-overheid/v9/ebox", 404),
    ] {
        assert_eq!(f.get_json(&format!("{base}{path}"), &token).await.0, status, "{path}");
    }
}

/// One message as a test describes it, to lie in both registries.
fn same_message() -> Value {
    json!({
        "message_id": "same",
        "received_at": "2026-11-20T09:15:00Z",
        "expires_at": "2099-01-01T00:00:00Z",
        "registered_mail": true,
        "sender_organization_id": "0206731645",
        "sender_application_id": "dmfa",
        "body": {"nl": "Toelichting", "fr": "Explication", "de": "Erläuterung"},
        "body_main_content": false,
        "attachments": [
            {"attachment_id": "main", "file_name": "Brief.pdf", "main_content": true, "content_base64": "JVBERi0xLjc="},
            {"attachment_id": "annex", "file_name": "Bijlage.csv", "media_type": "text/csv", "content_base64": "YSxi", "omit_id": true}
        ]
    })
}

async fn message_at(f: &Fixture, token: &str, provider: &str) -> Value {
    let r = f
        .control(
            reqwest::Method::POST,
            &format!("/control/boxes/{provider}/{ENTERPRISE_A}/messages"),
            same_message(),
        )
        .await;
    assert_eq!(r.status(), 201);
    let (status, m) = f
        .get_json(&format!("{}/ebox/messages/same", f.registry(provider)), token)
        .await;
    assert_eq!(status, 200);
    m
}

#[tokio::test]
async fn v2_and_v3_render_one_message_with_their_own_names() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    let v2 = message_at(&f, &token, PROVIDER_2).await;
    let v3 = message_at(&f, &token, PROVIDER).await;
    let common = [
        "messageId",
        "subject",
        "receiptDate",
        "expirationDate",
        "messageTypeId",
        "attachments",
    ];
    let v2_names = [
        "readStatus",
        "visible",
        "registeredMail",
        "bodyMainContent",
        "replyAuthorized",
        "senderOrganizationId",
        "senderApplicationId",
    ];
    let v3_names = [
        "isRead",
        "isVisible",
        "isRegisteredMail",
        "isBodyMainContent",
        "isReplyAuthorized",
        "sender",
        "recipient",
    ];
    assert_eq!(keys(&v2), set(&[&common[..], &v2_names[..]].concat()));
    assert_eq!(keys(&v3), set(&[&common[..], &v3_names[..]].concat()));
    for name in ["messageId", "subject", "receiptDate", "expirationDate", "messageTypeId"] {
        assert_eq!(v2[name], v3[name], "{name}");
    }
    assert_eq!(
        (&v2["registeredMail"], &v3["isRegisteredMail"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(
        (&v2["bodyMainContent"], &v3["isBodyMainContent"]),
        (&json!(false), &json!(false))
    );
    // The sender is an enterprise, its application not given; the partition lies with
    // the recipient, the enterprise whose e-Box it is.
    assert_eq!(
        v3["sender"],
        json!({"eboxType": "enterprise", "enterpriseNumber": "0206731645"})
    );
    assert_eq!(
        v3["recipient"],
        json!({"eboxType": "enterprise", "enterpriseNumber": ENTERPRISE_A, "partition": "GENERAL"})
    );
    assert!(!v3.to_string().contains("applicationId") && !v3.to_string().contains("organizationId"));
    assert_attachments_named_by_version(&f, &v2, &v3);
}

/// The attachments of [`same_message`] at both registries: their own boolean names, the
/// annex without a listed id.
fn assert_attachments_named_by_version(f: &Fixture, v2: &Value, v3: &Value) {
    let (a2, a3) = (&v2["attachments"]["items"], &v3["attachments"]["items"]);
    let attachment_common = ["fileName", "mediaType", "size", "digest", "contentHref"];
    assert_eq!(
        keys(&a2[0]),
        set(&[
            &attachment_common[..],
            &["attachmentId", "mainContent", "attachmentSigned"]
        ]
        .concat())
    );
    assert_eq!(
        keys(&a3[0]),
        set(&[
            &attachment_common[..],
            &["attachmentId", "isMainContent", "isAttachmentSigned"]
        ]
        .concat())
    );
    assert_eq!(
        (&a2[0]["mainContent"], &a3[0]["isMainContent"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(
        (&a2[0]["attachmentSigned"], &a3[0]["isAttachmentSigned"]),
        (&json!(false), &json!(false))
    );
    // The annex was added without a listed id, in both versions.
    assert!(a2[1].get("attachmentId").is_none() && a3[1].get("attachmentId").is_none());
    assert!(
        a3[1]["contentHref"]
            .as_str()
            .unwrap()
            .starts_with(&f.registry(PROVIDER))
    );
    assert_eq!(a3[0]["size"].as_f64(), Some(0.01), "kB, a float");
}

#[tokio::test]
async fn v3_shows_the_partition_given_and_no_application_either_way() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    let mut spec = same_message();
    spec["partition"] = json!("BOEKHOUDING");
    f.add(PROVIDER, spec).await;
    let m = f.message(PROVIDER, "same").await;
    assert_eq!(m["recipient"]["partition"], "BOEKHOUDING");
    f.sim
        .update_message(PROVIDER, ENTERPRISE_A, "same", |m, _| m.sender_application_id = None);
    let (_, m) = f
        .get_json(&format!("{}/ebox/messages/same", f.registry(PROVIDER)), &token)
        .await;
    assert_eq!(
        m["sender"],
        json!({"eboxType": "enterprise", "enterpriseNumber": "0206731645"})
    );
}

#[tokio::test]
async fn v3_filters_take_the_is_names_and_the_v2_names() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    for provider in [PROVIDER, PROVIDER_2] {
        message_at(&f, &token, provider).await;
        let other = json!({"message_id": "other"});
        let path = format!("/control/boxes/{provider}/{ENTERPRISE_A}/messages");
        assert_eq!(f.control(reqwest::Method::POST, &path, other).await.status(), 201);
    }
    let total = |provider: &'static str, query: &'static str| {
        let (f, token) = (&f, &token);
        async move {
            let (status, body) = f.get_json(&format!("{}?{query}", f.list_url(provider)), token).await;
            if status == 404 {
                0
            } else {
                body["totalItems"].as_u64().unwrap()
            }
        }
    };
    for query in ["isRegisteredMail=true", "registeredMail=true"] {
        assert_eq!(total(PROVIDER, query).await, 1, "v3 {query}");
    }
    assert_eq!(total(PROVIDER_2, "registeredMail=true").await, 1);
    // v2 does not know the `is` names: the filter is ignored.
    assert_eq!(total(PROVIDER_2, "isRegisteredMail=true").await, 2);
    f.sim
        .update_message(PROVIDER, ENTERPRISE_A, "same", |m, _| m.visible = false);
    assert_eq!(total(PROVIDER, "isVisible=false").await, 1);
    assert_eq!(total(PROVIDER, "visible=false").await, 1);
    assert_eq!(total(PROVIDER, "isVisible=true").await, 1);
    assert_eq!(total(PROVIDER, "isRead=true").await, 0);
    // Without a visibility filter, the hidden message is left out.
    assert_eq!(total(PROVIDER, "readStatus=false").await, 1);
    assert_eq!(total(PROVIDER, "readStatus=false&visible=false").await, 1);
}
