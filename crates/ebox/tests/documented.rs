//! The client against e-Box as its current documentation has it, through the simulator
//! over HTTP: registries that serve fewer items than asked, v2 and v3 side by side, both
//! discovery endpoints, items that are no message, attachments known only by their link,
//! and clients granted older or newer scopes.

mod common;

use common::*;
use ebox::EboxError;
use ebox::model::{ApiVersion, Listed, MessageProvider, ProviderState};
use ebox_sim::control::MessageSpec;
use ebox_sim::data::{CONSULT_SCOPE, MESSAGES_SCOPE, OLD_CONSULT_SCOPES, REGISTRY_SCOPE};
use futures::TryStreamExt;
use serde_json::json;

const V3: &str = "ebox-enterprise";
const V2: &str = "vlaamse-overheid";

async fn provider(session: &ebox::Session, id: &str) -> MessageProvider {
    listed_providers(session)
        .await
        .into_iter()
        .find(|p| p.message_provider_id == id)
        .unwrap()
}

async fn walk(session: &ebox::Session, p: &MessageProvider) -> Vec<Listed> {
    session
        .messages(p, None, ebox::Visibility::AsListed)
        .try_collect()
        .await
        .unwrap()
}

fn ids(items: &[Listed]) -> Vec<String> {
    items.iter().filter_map(|i| i.message_id().map(str::to_owned)).collect()
}

fn spec(json: serde_json::Value) -> MessageSpec {
    serde_json::from_value(json).unwrap()
}

#[tokio::test]
async fn a_registry_serving_pages_of_50_loses_nothing() {
    let f = Fixture::start().await;
    let session = f.session();
    let now = f.sim.now();
    for n in 0..180 {
        let m = spec(json!({"message_id": format!("m{n:03}"), "received_at": now - chrono::Duration::minutes(n)}));
        f.sim.add_message(V2, ENTERPRISE, m.into_message(now).unwrap());
    }
    let p = provider(&session, V2).await;
    let listed = walk(&session, &p).await;
    let expected: Vec<String> = (0..180).map(|n| format!("m{n:03}")).collect();
    assert_eq!(ids(&listed), expected, "every message, newest first, once");
    assert_eq!(f.requests("list"), 4, "pages of 50: 50, 50, 50, 30");

    // Without its count, a short page does not end the list: only an empty one does.
    f.sim.reset_counters();
    f.fault(json!({"route": "list", "kind": {"type": "omit_total"}}));
    assert_eq!(ids(&walk(&session, &p).await), expected, "without totalItems too");
    assert_eq!(f.requests("list"), 5, "50, 50, 50, 30, then 404 past the end");
    f.sim.clear_faults();

    // An empty list answered 404 "No messages found" is an empty list.
    let q = provider(&session, V3).await;
    assert!(walk(&session, &q).await.is_empty());
}

#[tokio::test]
async fn v2_and_v3_messages_come_out_the_same() {
    let f = Fixture::start().await;
    let session = f.session();
    let now = f.sim.now();
    let message = json!({
        "message_id": "same", "registered_mail": true, "partition": "HR",
        "body": {"nl": "Bijlage bij de brief"}, "body_main_content": false,
        "sender_organization_id": "0206731645", "sender_application_id": "dmfa", "message_type_id": "beslissing",
        "attachments": [{"file_name": "brief.pdf", "main_content": true, "size": 1000}]
    });
    for p in [V2, V3] {
        f.sim
            .add_message(p, ENTERPRISE, spec(message.clone()).into_message(now).unwrap());
    }
    let read = |items: Vec<Listed>| match items.into_iter().next() {
        Some(Listed::Message(m)) => m.message,
        other => panic!("{other:?}"),
    };
    let (p2, p3) = (provider(&session, V2).await, provider(&session, V3).await);
    assert_eq!((p2.api_version, p3.api_version), (ApiVersion::V2, ApiVersion::V3));
    let (m2, m3) = (read(walk(&session, &p2).await), read(walk(&session, &p3).await));
    assert_eq!(m3.partition.as_deref(), Some("HR"));
    assert_eq!(m2.partition, None, "v2 has no partitions");
    assert!(m2.registered_mail && m3.registered_mail);
    assert_eq!((m2.body_main_content, m3.body_main_content), (Some(false), Some(false)));
    assert_eq!(m2.sender_organization.id.as_deref(), Some("0206731645"));
    assert_eq!(m3.sender_organization, m2.sender_organization);
    // v3's sender object names the enterprise only: no application.
    assert_eq!(m2.sender_application.id.as_deref(), Some("dmfa"));
    assert!(m3.sender_application.id.is_absent());
    assert_eq!(m3.sender_ebox_type.as_deref(), Some("enterprise"));
    assert_eq!(m3.message_type, m2.message_type);
    assert!(m2.attachments[0].main_content && m3.attachments[0].main_content);
    // The annex body is there although it is not the main content.
    for (p, m) in [(&p2, &m2), (&p3, &m3)] {
        let body = session.body(p, &m.message_id).await.unwrap().expect("an annex body");
        assert_eq!(body.text.nl.as_deref(), Some("Bijlage bij de brief"));
    }
}

#[tokio::test]
async fn a_body_that_is_not_there_is_none_and_an_attachment_without_id_is_followed() {
    let f = Fixture::start().await;
    let session = f.session();
    let now = f.sim.now();
    let m = spec(json!({"message_id": "link-only", "attachments": [
        {"file_name": "a.pdf", "main_content": true, "size": 70000, "omit_id": true},
        {"file_name": "b.pdf", "size": 10, "omit_id": true, "digest": false}
    ]}))
    .into_message(now)
    .unwrap();
    let contents: Vec<[u8; 32]> = m.attachments.iter().map(|a| a.content.sha256()).collect();
    f.sim.add_message(V3, ENTERPRISE, m);
    let p = provider(&session, V3).await;
    let Some(Listed::Message(listed)) = walk(&session, &p).await.into_iter().next() else {
        panic!("no message")
    };
    assert_eq!(
        listed.message.body_main_content,
        Some(false),
        "present on every message"
    );
    assert_eq!(session.body(&p, "link-only").await.unwrap(), None, "404: there is none");
    let again = session.message(&p, "link-only").await.unwrap();
    for (i, a) in listed.message.attachments().iter().enumerate() {
        assert!(a.id_assigned && a.content_href.is_some(), "{a:?}");
        assert_eq!(a.attachment_id, again.message.attachments()[i].attachment_id, "stable");
        let d = session.attachment(&p, "link-only", a).await.unwrap();
        let sha = d.sha256.clone();
        let _: Vec<bytes::Bytes> = d.chunks.try_collect().await.unwrap();
        assert_eq!(sha.get(), Some(&contents[i]));
    }
    let ids: std::collections::HashSet<&str> = listed
        .message
        .attachments()
        .iter()
        .map(|a| a.attachment_id.as_str())
        .collect();
    assert_eq!(ids.len(), 2, "distinct ids of our own");
}

#[tokio::test]
async fn an_unreadable_item_does_not_stop_the_walk() {
    let f = Fixture::start().await;
    let session = f.session();
    let now = f.sim.now();
    for n in 0..120 {
        let m = spec(json!({"message_id": format!("m{n:03}"), "received_at": now - chrono::Duration::minutes(n)}));
        f.sim.add_message(V2, ENTERPRISE, m.into_message(now).unwrap());
    }
    let broken = json!({"subject": {"nl": "zonder id"}, "receiptDate": "not a date"});
    f.sim.add_raw_item(
        V2,
        ENTERPRISE,
        broken.clone(),
        now - chrono::Duration::seconds(60 * 60 + 30),
    );
    f.sim.add_raw_item(
        V2,
        ENTERPRISE,
        json!("not even an object"),
        now - chrono::Duration::seconds(100 * 60 + 30),
    );
    let p = provider(&session, V2).await;
    let listed = walk(&session, &p).await;
    assert_eq!(listed.len(), 122);
    assert_eq!(ids(&listed).len(), 120, "every message");
    let unreadable: Vec<&ebox::model::UnreadableItem> = listed
        .iter()
        .filter_map(|i| match i {
            Listed::Unreadable(u) => Some(u),
            Listed::Message(_) => None,
        })
        .collect();
    assert_eq!(unreadable.len(), 2);
    assert_eq!(unreadable[0].value(), Some(broken), "kept as it came");
    assert_eq!(unreadable[0].reason, "the item has no messageId");
    assert_eq!(unreadable[1].value(), Some(json!("not even an object")));
}

#[tokio::test]
async fn discovery_through_either_registry() {
    let f = Fixture::start().await;
    let mut registries = Vec::new();
    // The two endpoints name the same registries differently.
    for (url, ids) in [
        (f.sim.document_provider_registry_url(), [V3, V2]),
        (f.sim.message_providers_url(), ["EBOXENT", "VO-REGISTRY"]),
    ] {
        let mut config = config(&f.sim);
        config.provider_registry_url = url.clone();
        let ebox = ebox::Ebox::new(config).unwrap();
        let found = f.session_of(&ebox, CLIENT_ID).providers().await.unwrap();
        let now = f.sim.now();
        let active: Vec<(&str, ApiVersion)> = found
            .providers
            .iter()
            .filter(|p| p.state(now) == ProviderState::Active)
            .map(|p| (p.message_provider_id.as_str(), p.api_version))
            .collect();
        assert_eq!(active, [(ids[0], ApiVersion::V3), (ids[1], ApiVersion::V2)], "{url}");
        assert_eq!(found.providers.len(), 4, "{url}: inactive ones are listed too");
        assert!(found.skipped.is_empty(), "{url}: {:?}", found.skipped);
        let urls: Vec<String> = found.providers.iter().map(|p| p.message_provider_url.clone()).collect();
        registries.push(urls);
    }
    assert_eq!(registries[0], registries[1], "the same registries");
}

#[tokio::test]
async fn no_scope_named_and_older_scopes_both_work() {
    let f = Fixture::start().await;
    f.generate(4, 1, 1000);
    // A client onboarded earlier, granted the older scopes.
    let mut old: Vec<&str> = OLD_CONSULT_SCOPES.to_vec();
    old.push(REGISTRY_SCOPE);
    f.sim
        .register_with_scopes("old-client", ENTERPRISE, &f.key.certificate_pem, &old)
        .unwrap();
    let session = f.session_of(&f.ebox, "old-client");
    let p = provider(&session, V3).await;
    assert_eq!(walk(&session, &p).await.len(), 2);
    assert!(session.summary(&p).await.is_ok());

    // Naming the newer scope for the older client: refused, saying which and what to do.
    let named = f
        .session_of(&f.ebox, "old-client")
        .with_scopes(Some(vec![CONSULT_SCOPE.into(), REGISTRY_SCOPE.into()]));
    let err = named.access_token().await.unwrap_err();
    assert!(matches!(err, EboxError::ScopeRefused { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(CONSULT_SCOPE) && text.contains("leave EBOX_SCOPES"),
        "{text}"
    );
    assert!(!err.retryable());

    // Naming the scopes it was granted works too.
    let granted = f
        .session_of(&f.ebox, "old-client")
        .with_scopes(Some(vec![MESSAGES_SCOPE.into(), REGISTRY_SCOPE.into()]));
    assert_eq!(walk(&granted, &p).await.len(), 2);
}
