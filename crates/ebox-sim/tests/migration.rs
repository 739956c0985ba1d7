//! v3 messages in the shape of the provider migration notes: a `sender` object, the
//! partition where each provider puts it, `forTheAttentionOf` with `ssin` and `label`,
//! `isAttachmentSigned`, and bodies that may come inside the message.

mod common;

use common::*;
use ebox_sim::model::{PartitionPlace, Provider};
use serde_json::{Value, json};

const BODY: &str = r#"{"nl": "Geachte", "fr": "Madame", "de": "Sehr geehrte"}"#;

fn attention_v2() -> Value {
    json!({"id": "85073003328", "type": "nationalRegisterNumber", "name": "Jan Peeters"})
}

fn described(id: &str, inline: bool) -> Value {
    json!({
        "message_id": id,
        "sender_organization_id": "0206731645",
        "sender_application_id": "dmfa",
        "for_the_attention_of": attention_v2(),
        "body": serde_json::from_str::<Value>(BODY).unwrap(),
        "body_main_content": true,
        "body_inline": inline,
        "attachments": [{"attachment_id": "a", "file_name": "Bijlage.pdf", "content_base64": "JVBERi0xLjc="}]
    })
}

#[tokio::test]
async fn a_v3_message_has_the_shape_of_the_migration_notes_and_v2_keeps_its_own() {
    let f = Fixture::start().await;
    for provider in [PROVIDER, PROVIDER_2] {
        f.add(provider, described("m", true)).await;
    }
    let v3 = f.message(PROVIDER, "m").await;
    assert_eq!(
        v3["sender"],
        json!({"eboxType": "enterprise", "enterpriseNumber": "0206731645"})
    );
    for gone in ["senderOrganizationId", "senderApplicationId", "partition"] {
        assert!(v3.get(gone).is_none(), "{gone}: {v3}");
    }
    assert!(!v3.to_string().contains("applicationId"), "no application in v3: {v3}");
    assert_eq!(
        v3["forTheAttentionOf"],
        json!({"ssin": "85073003328", "label": "Jan Peeters"})
    );
    let attachment = &v3["attachments"]["items"][0];
    assert_eq!(attachment["isAttachmentSigned"], false);
    assert!(attachment.get("isSigned").is_none() && attachment.get("attachmentSigned").is_none());
    assert_eq!(attachment["isMainContent"], false);
    assert_eq!(v3["bodyContent"], serde_json::from_str::<Value>(BODY).unwrap());

    let v2 = f.message(PROVIDER_2, "m").await;
    assert_eq!(v2["senderOrganizationId"], "0206731645");
    assert_eq!(v2["senderApplicationId"], "dmfa");
    assert_eq!(v2["forTheAttentionOf"], attention_v2());
    assert_eq!(v2["attachments"]["items"][0]["attachmentSigned"], false);
    for absent in ["sender", "recipient", "partition", "bodyContent"] {
        assert!(v2.get(absent).is_none(), "{absent}: {v2}");
    }
    // What the simulator holds stays in the v2 shape.
    let held = &f.sim.messages(PROVIDER, ENTERPRISE_A)[0];
    assert_eq!(held.for_the_attention_of, Some(attention_v2()));
}

#[tokio::test]
async fn only_an_inline_body_comes_inside_the_message_and_the_body_route_serves_both() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    f.add(PROVIDER, described("inline", true)).await;
    f.add(PROVIDER, described("apart", false)).await;
    let (_, list) = f.get_json(&f.list_url(PROVIDER), &token).await;
    let items = list["items"].as_array().unwrap();
    let by_id = |id: &str| items.iter().find(|m| m["messageId"] == id).unwrap().clone();
    assert_eq!(by_id("inline")["bodyContent"]["nl"], "Geachte");
    assert!(by_id("apart").get("bodyContent").is_none(), "{}", by_id("apart"));
    for id in ["inline", "apart"] {
        let url = format!("{}/ebox/messages/{id}/body", f.registry(PROVIDER));
        let (status, body) = f.get_json(&url, &token).await;
        assert_eq!((status, body), (200, serde_json::from_str(BODY).unwrap()), "{id}");
    }
}

#[tokio::test]
async fn generated_v3_messages_carry_some_bodies_inline_and_not_others() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    for provider in [PROVIDER, PROVIDER_2] {
        f.sim.generate(&scenario_at(provider, &[ENTERPRISE_A], 12));
    }
    let held = f.sim.messages(PROVIDER, ENTERPRISE_A);
    let (_, list) = f
        .get_json(&format!("{}?pageSize=50", f.list_url(PROVIDER)), &token)
        .await;
    let (mut inline, mut apart) = (0, 0);
    for (m, listed) in held.iter().zip(list["items"].as_array().unwrap()) {
        assert_eq!(listed["messageId"], m.id.as_str());
        match (&m.body, listed.get("bodyContent")) {
            (Some(body), Some(content)) => {
                assert_eq!(content, &json!(body));
                inline += 1;
            }
            (Some(_), None) => apart += 1,
            (None, content) => assert!(content.is_none(), "no body, no bodyContent"),
        }
    }
    assert!(inline > 0 && apart > 0, "inline {inline}, apart {apart}");
    assert!(held.iter().all(|m| m.body.is_some() || !m.body_inline));
    let (_, v2) = f
        .get_json(&format!("{}?pageSize=50", f.list_url(PROVIDER_2)), &token)
        .await;
    assert!(!v2.to_string().contains("bodyContent"), "never in v2");
}

/// Where the partition shows: (top level, in `recipient`, in `sender`).
fn partition_places(m: &Value) -> (Option<&Value>, Option<&Value>, Option<&Value>) {
    (
        m.get("partition"),
        m.get("recipient").and_then(|r| r.get("partition")),
        m["sender"].get("partition"),
    )
}

#[tokio::test]
async fn the_partition_lies_where_the_provider_puts_it() {
    let f = Fixture::start().await;
    let token = f.token_a().await;
    let mut spec = described("m", false);
    spec["partition"] = json!("BOEKHOUDING");
    f.add(PROVIDER, spec).await;
    let p = json!("BOEKHOUDING");
    let listed = async || {
        let (_, list) = f.get_json(&f.list_url(PROVIDER), &token).await;
        list["items"][0].clone()
    };
    let m = listed().await;
    assert_eq!(partition_places(&m), (None, Some(&p), None), "by default: {m}");
    assert_eq!(
        m["recipient"],
        json!({"eboxType": "enterprise", "enterpriseNumber": ENTERPRISE_A, "partition": "BOEKHOUDING"})
    );
    // Each change of the provider shows at once, in the list (rendered once, kept) and
    // by the message's own route.
    f.sim
        .update_provider(PROVIDER, |p| p.partition_place = PartitionPlace::Top);
    let m = listed().await;
    assert_eq!(partition_places(&m), (Some(&p), None, None), "top: {m}");
    assert!(m.get("recipient").is_none());
    f.sim
        .update_provider(PROVIDER, |p| p.partition_place = PartitionPlace::Sender);
    let m = listed().await;
    assert_eq!(partition_places(&m), (None, None, Some(&p)), "sender: {m}");
    assert_eq!(
        m["sender"],
        json!({"eboxType": "enterprise", "enterpriseNumber": "0206731645", "partition": "BOEKHOUDING"})
    );
    assert_eq!(
        partition_places(&f.message(PROVIDER, "m").await),
        (None, None, Some(&p))
    );
}

#[test]
fn a_provider_reads_its_partition_place_in_snake_case_and_defaults_to_recipient() {
    let provider = json!({"id": "x", "name": "X", "activation": "2020-01-01", "api_version": "v3"});
    let read: Provider = serde_json::from_value(provider.clone()).unwrap();
    assert_eq!(read.partition_place, PartitionPlace::Recipient);
    assert_eq!(
        (read.legacy_id(), read.listed_id(), read.reference_path()),
        ("x", "x", "refData")
    );
    for (name, place) in [
        ("top", PartitionPlace::Top),
        ("recipient", PartitionPlace::Recipient),
        ("sender", PartitionPlace::Sender),
    ] {
        let mut with = provider.clone();
        with["partition_place"] = json!(name);
        let read: Provider = serde_json::from_value(with).unwrap();
        assert_eq!(read.partition_place, place);
        assert_eq!(serde_json::to_value(place).unwrap(), json!(name));
    }
}

#[tokio::test]
async fn a_listed_message_copied_into_another_e_box_names_its_new_recipient() {
    let f = Fixture::start().await;
    let key_b = testkit::KeyMaterial::generate("b");
    f.register("client-b", ENTERPRISE_B, &key_b.certificate_pem, None).await;
    f.add(PROVIDER, described("m", false)).await;
    let (_, listed) = f.get_json(&f.list_url(PROVIDER), &f.token_a().await).await;
    assert_eq!(listed["items"][0]["recipient"]["enterpriseNumber"], ENTERPRISE_A);
    let copy = f.sim.messages(PROVIDER, ENTERPRISE_A).remove(0);
    f.sim.add_message(PROVIDER, ENTERPRISE_B, copy);
    let token_b = f.token_for("client-b", &key_b.private_key_pem).await;
    let (_, listed) = f.get_json(&f.list_url(PROVIDER), &token_b).await;
    assert_eq!(listed["items"][0]["recipient"]["enterpriseNumber"], ENTERPRISE_B);
}
