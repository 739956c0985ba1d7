//! The schemas read by serde: v2 and v3 alike, tolerant of odd fields, exact about what
//! was sent.

use chrono::{DateTime, Utc};
use ebox::model::*;
use serde_json::Value;
use serde_json::json;

#[test]
fn provider_states_follow_dates_and_maintenance() {
    let now: DateTime<Utc> = "2026-11-28T10:00:00Z".parse().unwrap();
    let p = MessageProvider::read(&json!({
        "messageProviderId": "p", "messageProviderUrl": "https://x/",
        "messageProviderActivationDate": "2018-01-01",
        "messageProviderPlannedMaintenance": [{"startDate": "2026-11-28T08:00:00Z", "endDate": "2026-11-28T12:00:00Z"}],
        "somethingNew": 1
    }))
    .unwrap();
    assert_eq!(
        p.state(now),
        ProviderState::InMaintenance {
            until: "2026-11-28T12:00:00Z".parse().unwrap()
        }
    );
    assert_eq!(p.state("2026-11-28T12:00:00Z".parse().unwrap()), ProviderState::Active);
    let later = MessageProvider::read(
        &json!({"messageProviderId": "p", "messageProviderUrl": "https://u/", "messageProviderActivationDate": "2026-11-29"}),
    )
    .unwrap();
    assert_eq!(later.state(now), ProviderState::NotYetActive);
    let gone = MessageProvider::read(&json!({"messageProviderId": "p", "messageProviderUrl": "https://u/",
        "messageProviderActivationDate": "2017-01-01", "messageProviderDeactivationDate": "2026-11-28"}))
    .unwrap();
    assert_eq!(gone.state(now), ProviderState::Deactivated);
}

#[test]
fn versions_come_from_the_announcement_or_the_url() {
    assert_eq!(ApiVersion::announced(Some("2.1"), "https://h/v3/"), ApiVersion::V2);
    assert_eq!(ApiVersion::announced(Some("v3"), "https://h/x/"), ApiVersion::V3);
    assert_eq!(ApiVersion::announced(Some("3.0.1"), "https://h/x/"), ApiVersion::V3);
    assert_eq!(
        ApiVersion::announced(None, "https://h/REST/ebox/enterprise/messageRegistry/v3/"),
        ApiVersion::V3
    );
    assert_eq!(
        ApiVersion::announced(Some("soon"), "https://h/messageRegistry/v2"),
        ApiVersion::V2
    );
    assert_eq!(ApiVersion::announced(None, "https://h/registry/"), ApiVersion::V2);
}

#[test]
fn discovery_reads_both_shapes_and_skips_only_the_bad_entry() {
    let old = Discovery::read(&json!([
        {"messageProviderId": "a", "messageProviderUrl": "https://a/v2/", "messageProviderActivationDate": "2018-01-01", "apiSupportedVersion": "2.1"},
        {"messageProviderId": "b"},
        {"messageProviderId": "c", "messageProviderUrl": "not a url"},
        "nonsense",
        {"messageProviderId": "d", "messageProviderUrl": "https://d/", "messageProviderActivationDate": "someday"},
    ]))
    .unwrap();
    assert_eq!(old.providers.len(), 1);
    assert_eq!(old.providers[0].api_version, ApiVersion::V2);
    let skipped: Vec<Option<&str>> = old.skipped.iter().map(|s| s.provider_id.as_deref()).collect();
    assert_eq!(skipped, [Some("b"), Some("c"), None, Some("d")]);
    assert!(old.skipped[0].reason.contains("no URL"), "{:?}", old.skipped);
    let new = Discovery::read(&json!({"items": [
        {"id": "x", "url": "https://x/messageRegistry/v3/", "apiSupportedVersion": "3.0", "activationDate": "2024-01-01",
         "plannedMaintenances": [{"startDate": "2026-01-01T00:00:00Z", "endDate": "2026-01-02T00:00:00Z"}]},
    ], "totalItems": 1}))
    .unwrap();
    assert_eq!(new.providers[0].message_provider_id, "x");
    assert_eq!(new.providers[0].api_version, ApiVersion::V3);
    assert_eq!(new.providers[0].message_provider_planned_maintenance.len(), 1);
    assert!(Discovery::read(&json!({"error": "x"})).is_err());
}

#[test]
fn v2_and_v3_messages_read_the_same() {
    let v2 = Message::read(&json!({
        "messageId": "m1", "subject": {"nl": "Onderwerp"}, "receiptDate": "2026-11-28T10:00:00Z",
        "expirationDate": "2027-02-28T10:00:00Z", "readStatus": false, "visible": true, "registeredMail": true,
        "messageTypeId": "attest", "senderOrganizationId": "0308357159", "senderApplicationId": "myminfin",
        "bodyMainContent": false, "replyAuthorized": false,
        "attachments": {"items": [{"attachmentId": "a1", "fileName": "f.pdf", "mediaType": "application/pdf",
            "size": 1.5, "mainContent": true, "attachmentSigned": true}], "totalItems": 1}
    }))
    .unwrap();
    let v3 = Message::read(&json!({
        "messageId": "m1", "subject": {"nl": "Onderwerp"}, "receiptDate": "2026-11-28T10:00:00Z",
        "expirationDate": "2027-02-28T10:00:00Z", "isRead": false, "isVisible": true, "isRegisteredMail": true,
        "messageTypeId": "attest", "sender": {"organizationId": "0308357159", "applicationId": "myminfin"},
        "isBodyMainContent": false, "isReplyAuthorized": false, "partition": "GENERAL",
        "attachments": {"items": [{"attachmentId": "a1", "fileName": "f.pdf", "mediaType": "application/pdf",
            "size": 1.5, "isMainContent": true, "isSigned": true}], "totalItems": 1}
    }))
    .unwrap();
    assert_eq!(v3.partition.as_deref(), Some("GENERAL"));
    assert_eq!(Message { partition: None, ..v3 }, v2);
    assert_eq!(v2.sender_organization.id, Sent::Value("0308357159".into()));
    assert_eq!(v2.body_main_content, Some(false));
    assert!(v2.registered_mail && v2.attachments[0].main_content && v2.attachments[0].signed);
}

#[test]
fn only_the_message_id_is_needed() {
    let m =
        Message::read(&json!({"messageId": "m", "receiptDate": 12, "attachments": [{"contentHref": "https://h/c"}]}))
            .unwrap();
    assert_eq!(m.receipt_date, None);
    assert_eq!(m.body_main_content, None);
    assert!(m.attachments_whole);
    assert!(m.attachments[0].id_assigned);
    let again =
        Message::read(&json!({"messageId": "m", "attachments": [{"contentHref": "https://h/c?sig=2"}]})).unwrap();
    assert_eq!(
        m.attachments[0].attachment_id, again.attachments[0].attachment_id,
        "stable"
    );
    assert!(Message::read(&json!({"subject": {"nl": "x"}})).is_err());
    assert!(Message::read(&json!(["x"])).is_err());
    match Listed::from_value(&json!({"id-less": true, "receiptDate": "2026-01-02T00:00:00Z"})) {
        Listed::Unreadable(u) => {
            assert_eq!(u.reason, "the item has no messageId");
            assert!(u.receipt_date.is_some());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_part_of_the_attachments_and_ids_listed_twice_are_seen() {
    let partial =
        Message::read(&json!({"messageId": "m", "attachments": {"items": [{"attachmentId": "a"}], "totalItems": 2}}))
            .unwrap();
    assert!(!partial.attachments_whole);
    let odd = Message::read(&json!({"messageId": "m", "attachments": "three"})).unwrap();
    assert!(!odd.attachments_whole);
    let twice = Message::read(&json!({"messageId": "m", "attachments": [
        {"attachmentId": "a", "fileName": "x.pdf", "contentHref": "https://h/1"},
        {"attachmentId": "a", "fileName": "x.pdf", "contentHref": "https://h/2"}]}))
    .unwrap();
    assert_eq!(twice.attachments[0].attachment_id, "a");
    assert!(twice.attachments[1].id_assigned && twice.attachments[1].attachment_id != "a");
}

#[test]
fn providers_take_the_token_over_https_or_to_this_machine_only() {
    let read = |url: &str| MessageProvider::read(&json!({"id": "p", "url": url}));
    assert!(read("https://services.example/registry/").is_ok());
    assert!(read("http://127.0.0.1:8700/registries/p/v3/").is_ok());
    assert!(read("http://localhost/r/").is_ok());
    assert!(read("http://[::1]:9/r/").is_ok());
    assert!(read("http://services.example/registry/").is_err());
    assert!(read("ftp://x/").is_err());
}

#[test]
fn digest_is_base64url_sha256() {
    let a = Attachment::read(
        0,
        &json!({
            "attachmentId": "a", "fileName": "f.pdf", "mediaType": "application/pdf", "size": 1.5, "mainContent": true,
            "digest": {"digestMethod": "sha_256", "digestValue": "LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564"}
        }),
    );
    let expected: [u8; 32] = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(b"foo")).into();
    assert_eq!(a.expected_sha256(), Some(expected));
}

#[test]
fn absent_null_and_empty_stay_apart() {
    let m = Message::read(&json!({
        "messageId": "m", "subject": {"nl": "", "fr": null},
        "forTheAttentionOf": null,
        "attachments": [
            {"attachmentId": "a", "fileName": ""},
            {"attachmentId": "b", "fileName": null},
            {"attachmentId": "c"},
            {"attachmentId": "d", "fileName": " ../x.pdf\u{0}"}
        ]
    }))
    .unwrap();
    let subject = m.subject.value().unwrap();
    assert_eq!(subject.nl, Sent::Value(String::new()));
    assert_eq!(subject.fr, Sent::Null);
    assert_eq!(subject.de, Sent::Absent);
    assert_eq!(m.for_the_attention_of, Sent::Null);
    assert_eq!(m.payment_data, Sent::Absent);
    let names: Vec<_> = m.attachments.iter().map(|a| a.file_name.clone()).collect();
    assert_eq!(
        names,
        [
            Sent::Value(String::new()),
            Sent::Null,
            Sent::Absent,
            Sent::Value(" ../x.pdf\u{0}".into())
        ]
    );
    // The key falls back to the id where the name says nothing.
    assert_eq!(m.attachments[0].name(), "a");
    assert_eq!(m.attachments[3].name(), " ../x.pdf\u{0}");
    let out = serde_json::to_value(&m.attachments).unwrap();
    assert_eq!(out[0]["file_name"], json!(""));
    assert_eq!(out[1]["file_name"], Value::Null);
    assert_eq!(serde_json::to_value(subject).unwrap(), json!({"nl": "", "fr": null}));
}

#[test]
fn a_field_of_the_wrong_type_is_absent_and_costs_nothing_else() {
    let m = Message::read(&json!({
        "messageId": 42, "subject": 7, "receiptDate": true, "isRegisteredMail": "yes",
        "visible": "false", "sender": [1], "partition": {"name": "HR"},
        "attachments": [
            "not an attachment",
            {"attachmentId": "ok", "fileName": "f.pdf", "size": "big", "digest": "none", "isMainContent": "TRUE"}
        ]
    }))
    .unwrap();
    assert_eq!(m.message_id, "42");
    assert_eq!(m.subject, Sent::Absent);
    assert_eq!(m.receipt_date, None);
    assert!(!m.registered_mail);
    assert_eq!(m.visible, Some(false));
    assert_eq!(m.partition.as_deref(), Some("HR"));
    assert_eq!(m.attachments.len(), 2, "the odd entry is kept with an id of our own");
    assert!(m.attachments[0].id_assigned);
    let ok = &m.attachments[1];
    assert_eq!(
        (ok.attachment_id.as_str(), ok.size_kb, ok.main_content),
        ("ok", None, true)
    );
    assert_eq!(ok.digest, None);
}

#[test]
fn v2_and_v3_names_in_one_message_are_both_read() {
    let m = Message::read(
        &json!({"messageId": "m", "visible": true, "isVisible": true, "readStatus": false,
        "isRead": true, "registeredMail": true, "isRegisteredMail": true, "id": "other"}),
    )
    .unwrap();
    assert_eq!(
        (m.visible, m.read_status, m.registered_mail),
        (Some(true), Some(false), true)
    );
    assert_eq!(m.message_id, "m");
}

#[test]
fn v3_as_the_migration_notes_describe_it_reads_as_v2() {
    let v2 = Message::read(&json!({
        "messageId": "m1", "subject": {"nl": "Onderwerp"}, "readStatus": false, "visible": true,
        "senderOrganizationId": "0308357159", "messageTypeId": "attest", "bodyMainContent": true,
        "forTheAttentionOf": {"id": "85073003328", "name": "Jan Peeters", "type": "nationalRegisterNumber"},
        "replyAuthorized": true,
        "attachments": [{"attachmentId": "a1", "fileName": "f.pdf", "mainContent": false, "attachmentSigned": true}]
    }))
    .unwrap();
    let v3 = Message::read(&json!({
        "messageId": "m1", "subject": {"nl": "Onderwerp"}, "isRead": false, "isVisible": true,
        "sender": {"eboxType": "enterprise", "enterpriseNumber": "308357159"}, "messageTypeId": "attest",
        "recipient": {"eboxType": "enterprise", "enterpriseNumber": "0403170701", "partition": "HR"},
        "isBodyMainContent": true, "bodyContent": {"nl": "Tekst", "fr": "", "de": null},
        "forTheAttentionOf": {"ssin": "85073003328", "label": "Jan Peeters"}, "isReplyAuthorized": true,
        "attachments": [{"attachmentId": "a1", "fileName": "f.pdf", "isMainContent": false, "isAttachmentSigned": true}]
    }))
    .unwrap();
    assert_eq!(
        v3.sender_organization.id,
        Sent::Value("0308357159".into()),
        "padded to 10 digits"
    );
    assert_eq!(v3.sender_ebox_type.as_deref(), Some("enterprise"));
    assert_eq!(v3.partition.as_deref(), Some("HR"));
    assert_eq!(
        v3.for_the_attention_of,
        Sent::Value(json!({"id": "85073003328", "name": "Jan Peeters"}))
    );
    assert_eq!(
        v2.for_the_attention_of.value().unwrap()["type"],
        "nationalRegisterNumber"
    );
    let (body, raw) = v3.inline_body().unwrap();
    assert_eq!(
        (body.nl.clone(), body.fr.clone(), body.de.clone()),
        (Sent::Value("Tekst".into()), Sent::Value(String::new()), Sent::Null)
    );
    assert_eq!(raw, &json!({"nl": "Tekst", "fr": "", "de": null}));
    assert!(v2.inline_body().is_none());
    let same = |m: &Message| {
        (
            m.sender_organization.clone(),
            m.message_type.clone(),
            m.body_main_content,
            m.reply_authorized,
            m.attachments.clone(),
            m.visible,
            m.read_status,
        )
    };
    assert_eq!(same(&v3), same(&v2));
    for place in [
        json!({"partition": "P"}),
        json!({"recipient": {"partition": "P"}}),
        json!({"sender": {"eboxType": "enterprise", "enterpriseNumber": "0206731645", "partition": "P"}}),
    ] {
        let mut m = place.clone();
        m["messageId"] = json!("x");
        assert_eq!(Message::read(&m).unwrap().partition.as_deref(), Some("P"), "{place}");
    }
}

#[test]
fn reference_items_of_either_shape() {
    let org = ReferenceKind::SenderOrganization;
    assert_eq!(
        org.read_item(&json!({"enterpriseNumber": "0308357159", "name": {"nl": "FOD"}}))
            .unwrap()
            .0,
        "0308357159"
    );
    assert!(org.read_item(&json!({"organizationId": "x"})).is_none(), "no name");
    let app = ReferenceKind::SenderApplication;
    assert_eq!(
        app.read_item(&json!({"applicationId": "a", "applicationName": "A"}))
            .unwrap()
            .1,
        Translated::all("A")
    );
}

#[test]
fn a_v3_sender_may_name_itself() {
    let m = Message::read(&json!({"messageId": "m",
        "sender": {"eboxType": "enterprise", "enterpriseNumber": "0206731645", "name": {"nl": "RSZ", "fr": ""}}}))
    .unwrap();
    assert_eq!(m.sender_organization.id.as_deref(), Some("0206731645"));
    let name = m.sender_organization.name.value().unwrap();
    assert_eq!((name.nl.as_deref(), name.fr.as_deref()), (Some("RSZ"), Some("")));
    let citizen =
        Message::read(&json!({"messageId": "m", "sender": {"eboxType": "citizen", "ssin": "85073003328"}})).unwrap();
    assert!(citizen.sender_organization.id.is_absent());
    assert_eq!(citizen.sender_ebox_type.as_deref(), Some("citizen"));
}

#[test]
fn an_unreadable_item_keeps_its_name_whatever_its_spelling() {
    let read = |text: &str| match Listed::read(serde_json::value::RawValue::from_string(text.to_owned()).unwrap()) {
        Listed::Unreadable(u) => u,
        other => panic!("{other:?}"),
    };
    let spaced = read(r#"{ "receiptDate": "x",  "b": [1, 2] }"#);
    let compact = read(r#"{"b":[1,2],"receiptDate":"x"}"#);
    assert_eq!(
        spaced.raw.get(),
        r#"{ "receiptDate": "x",  "b": [1, 2] }"#,
        "kept as sent"
    );
    // Stored compact with its keys in order, as earlier runs stored and named it.
    let (bytes, sha) = spaced.stored_bytes();
    assert_eq!(bytes, br#"{"b":[1,2],"receiptDate":"x"}"#);
    assert_eq!((bytes, sha), compact.stored_bytes());
}

#[test]
fn json_that_no_value_holds_is_an_item_not_read_and_kept_as_it_came() {
    let text = r#"{"messageId":"m","amount":1e400}"#;
    match Listed::read(serde_json::value::RawValue::from_string(text.to_owned()).unwrap()) {
        Listed::Unreadable(u) => {
            assert!(u.reason.contains("cannot be read"), "{}", u.reason);
            assert_eq!(u.value(), None);
            assert_eq!(u.stored_bytes().0, text.as_bytes());
        }
        other => panic!("{other:?}"),
    }
}
