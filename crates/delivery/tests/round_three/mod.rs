//! What the current e-Box documentation adds to the published files, through `fetch`:
//! hidden messages, v3 in the shape of the provider migration notes, partitions that
//! move, registries that change their name, and fields kept exactly as sent.

use super::*;
use ebox_sim::model::{ApiVersion, Provider};

fn visible_of(j: &Value) -> Option<bool> {
    j["visible"].as_bool()
}

pub(crate) async fn a_message_hidden_before_the_first_run_is_delivered_once(mut w: World) {
    w.connect(A).await;
    for p in [P1, P2] {
        w.add(p, A, json!({"message_id": "shown"}));
        w.add(p, A, json!({"message_id": "hidden", "visible": false}));
    }
    let first = w.run(A).await;
    assert_eq!((first.outcome, first.delivered), (Outcome::Ok, 4), "{first:#?}");
    for p in [P1, P2] {
        assert_eq!(visible_of(&w.message_json(A, p, "hidden").await), Some(false), "{p}");
        assert_eq!(visible_of(&w.message_json(A, p, "shown").await), Some(true), "{p}");
    }
    assert_eq!(w.run(A).await.delivered, 0, "never twice");
    // Arrived and hidden between two runs: the walk from the cursor lists visible mail
    // only; the daily reconcile asks for the hidden mail too, and delivers it once.
    let late = w.sim.arrive(P1, A);
    w.sim.update_message(P1, A, &late, |m, _| m.visible = false);
    assert_eq!(w.run(A).await.delivered, 0);
    let found = w.reconcile(A).await;
    // Not counted as found missing: a walk from the cursor is not meant to see hidden mail.
    assert_eq!(
        (found.delivered, found.reconcile_found_missing),
        (1, Some(0)),
        "{found:#?}"
    );
    assert_eq!(visible_of(&w.message_json(A, P1, &late).await), Some(false));
    assert_eq!(w.reconcile(A).await.delivered, 0, "never twice");
    // Shown again later: nothing new.
    w.sim.update_message(P1, A, &late, |m, _| m.visible = true);
    assert_eq!(w.run(A).await.delivered, 0);
}

pub(crate) async fn a_v3_registry_in_the_new_shape_gives_what_a_v2_one_gives(mut w: World) {
    w.connect(A).await;
    let message = json!({"message_id": "same", "registered_mail": true,
        "subject": {"nl": "Aanslag", "fr": "Avertissement", "de": "Bescheid"},
        "sender_organization_id": "0316380940", "message_type_id": "aanslagbiljet",
        "for_the_attention_of": {"id": "85073003328", "type": "nationalRegisterNumber", "name": "Jan Peeters"},
        "body": {"nl": "Uw aanslag", "fr": "", "de": "Ihr Bescheid"}, "body_main_content": true, "body_inline": true,
        "attachments": [{"file_name": "toelichting.pdf", "size": 3000}]});
    w.add(P1, A, message.clone());
    w.add(P2, A, message);
    // A v3 message without an inline body: its body call is still made.
    w.add(
        P1,
        A,
        json!({"message_id": "called", "body": {"nl": "Los"}, "body_main_content": true}),
    );
    assert_eq!(w.run(A).await.delivered, 3);
    w.assert_all_delivered(A).await;
    let v3 = w.message_json(A, P1, "same").await;
    let v2 = w.message_json(A, P2, "same").await;
    assert_eq!(
        v3["ebox"]["sender"]["enterpriseNumber"], "0316380940",
        "the new shape: {v3:#}"
    );
    assert!(v3["ebox"].get("senderOrganizationId").is_none());
    assert_eq!(v3["ebox"]["bodyContent"]["nl"], "Uw aanslag");
    for field in [
        "registered_mail",
        "subject",
        "message_type",
        "body",
        "body_role",
        "body_main_content",
        "reply_authorized",
        "received_at",
        "expires_at",
        "visible",
    ] {
        assert_eq!(v3[field], v2[field], "{field}");
    }
    assert_eq!(v3["sender"]["organization"], v2["sender"]["organization"]);
    assert_eq!(v3["sender"]["organization"]["name"]["nl"], "Vlaamse Belastingdienst");
    assert_eq!(v3["sender"]["ebox_type"], "enterprise");
    assert_eq!(v3["message_type"]["name"]["nl"], "Aanslagbiljet");
    assert_eq!(
        v3["for_the_attention_of"],
        json!({"id": "85073003328", "name": "Jan Peeters"})
    );
    assert_eq!(v2["for_the_attention_of"]["type"], "nationalRegisterNumber");
    assert_eq!(v3["body"], json!({"nl": "Uw aanslag", "fr": "", "de": "Ihr Bescheid"}));
    assert_eq!(
        (v3["body_source"].as_str(), v2["body_source"].as_str()),
        (Some("inline"), Some("body_call"))
    );
    assert_eq!(w.message_json(A, P1, "called").await["body_source"], "body_call");
    assert_eq!(v3["partition"], "GENERAL", "inside recipient");
    assert_eq!(v3["schema"], "digipost-ebox.message.v3");
}

pub(crate) async fn a_message_moved_to_another_partition_is_not_new(mut w: World) {
    w.connect(A).await;
    w.add(P1, A, json!({"message_id": "routed", "partition": "HR"}));
    assert_eq!(w.run(A).await.delivered, 1);
    assert_eq!(w.message_json(A, P1, "routed").await["partition"], "HR");
    w.sim
        .update_message(P1, A, "routed", |m, _| m.partition = Some("FINANCE".into()));
    assert_eq!(w.run(A).await.delivered, 0);
    let reconcile = w.reconcile(A).await;
    assert_eq!(reconcile.delivered, 0, "{reconcile:#?}");
    assert_eq!(w.message_json(A, P1, "routed").await["partition"], "HR", "as delivered");
}

pub(crate) async fn a_provider_renamed_between_two_runs_delivers_nothing_twice(mut w: World) {
    w.connect(A).await;
    w.generate(A, 8, 1, 1_000);
    assert_eq!(w.run(A).await.delivered, 8);
    // P1 renamed in discovery; P2 moved from v2 to v3 under a new name (a new URL).
    w.sim.update_provider(P1, |p| p.listed_id = Some("renamed".into()));
    w.sim.update_provider(P2, |p| {
        p.listed_id = Some("vo-v3".into());
        p.api_version = ApiVersion::V3;
    });
    let (one, two) = (w.sim.arrive(P1, A), w.sim.arrive(P2, A));
    w.new_process();
    let report = w.run(A).await;
    assert_eq!(report.delivered, 2, "{report:#?}");
    for (stored, listed) in [(P1, "renamed"), (P2, "vo-v3")] {
        let p = provider(&report, stored);
        assert_eq!(p.listed_as.as_deref(), Some(listed));
        assert_eq!(p.recognised_by, Some(Recognised::RegistryUrl));
    }
    w.message_json(A, P1, &one).await;
    w.message_json(A, P2, &two).await;
    w.assert_all_delivered(A).await;
    // Known by the recorded name from now on, even where the URL says nothing.
    let again = w.run(A).await;
    assert_eq!(again.delivered, 0);
    assert_eq!(provider(&again, P1).recognised_by, Some(Recognised::RecordedName));
}

pub(crate) async fn a_registry_at_a_new_url_is_recognised_by_its_messages(mut w: World) {
    w.connect(A).await;
    w.generate(A, 10, 1, 1_000);
    assert_eq!(w.run(A).await.delivered, 10);
    // The same mail at a new registry, the old one gone; and a registry of its own whose
    // numbering happens to reuse one id of P2's.
    let moved: Vec<_> = w.sim.messages(P2, A);
    let collide = moved.last().unwrap().id.clone();
    let mut providers = ebox_sim::data::default_providers();
    let template = providers.iter().find(|p| p.id == P2).unwrap().clone();
    providers.retain(|p| p.id != P2);
    providers.push(Provider {
        id: "moved".into(),
        ..template.clone()
    });
    providers.push(Provider {
        id: "own".into(),
        ..template
    });
    w.sim.set_providers(providers);
    let copy = |m: &ebox_sim::model::Message| ebox_sim::model::Message {
        rendered: Default::default(),
        ..m.clone()
    };
    for m in &moved {
        w.sim.add_message("moved", A, copy(m));
    }
    w.sim.add_message("own", A, copy(moved.last().unwrap()));
    for n in 0..3 {
        let old = w.sim.now() - Duration::days(3 + n);
        w.add("own", A, json!({"message_id": format!("own-{n}"), "received_at": old}));
    }
    w.new_process();
    let report = w.run(A).await;
    let own = provider(&report, "own");
    assert_eq!((own.delivered, own.recognised_by), (4, None), "{report:#?}");
    let moved_report = provider(&report, P2);
    assert_eq!(moved_report.listed_as.as_deref(), Some("moved"));
    assert_eq!(moved_report.recognised_by, Some(Recognised::Messages));
    assert_eq!(moved_report.delivered, 0, "{report:#?}");
    w.message_json(A, "own", &collide).await;
}

pub(crate) async fn fields_are_kept_exactly_as_sent(mut w: World) {
    w.connect(A).await;
    w.add(
        P2,
        A,
        json!({"message_id": "exact", "subject": {"nl": ""},
        "attachments": [{"attachment_id": "a1", "file_name": "", "size": 10, "main_content": true},
                        {"attachment_id": "a2", "file_name": " ", "size": 10}]}),
    );
    assert_eq!(w.run(A).await.delivered, 1);
    let j = w.message_json(A, P2, "exact").await;
    assert_eq!(j["subject"], json!({"nl": ""}));
    let attachments = j["attachments"].as_array().unwrap();
    assert_eq!(attachments[0]["file_name"], json!(""));
    assert_eq!(attachments[1]["file_name"], json!(" "));
    let prefix = Connection::default_prefix(&EntityId::parse(A).unwrap());
    let folder = keys::message_folder(&prefix, P2, "exact");
    assert_eq!(attachments[0]["key"], keys::attachment_key(&folder, "a1", "a1"));
    assert!(j.get("for_the_attention_of").is_none(), "left out as e-Box left it out");
    assert!(j.get("payment_data").is_none());
}

/// A warm process keeps what it read of a secret for a while. When e-Box refuses the key
/// it kept (the certificate was renewed and the old one withdrawn), the run reads the
/// secret again at once instead of failing until the cache expires.
pub(crate) async fn a_renewed_key_is_read_again_when_e_box_refuses_the_kept_one(mut w: World) {
    w.fetcher.secrets = Arc::new(delivery::secrets_cache::CachedSecrets::new(
        w.fetcher.secrets.clone(),
        std::time::Duration::from_secs(3600),
    ));
    w.connect(A).await;
    w.generate(A, 2, 1, 1_000);
    assert_eq!(w.run(A).await.outcome, Outcome::Ok);
    // The entity's account now holds a new certificate only, and the secret the new key.
    let renewed = testkit::KeyMaterial::generate("renewed");
    let client_id = format!("client-{A}");
    w.sim.revoke_client(&client_id);
    w.sim.register(&client_id, A, &renewed.certificate_pem).unwrap();
    let secret_id = w.b.secret_name(&format!("ebox/{A}"));
    let secret = json!({"client_id": client_id, "private_key_pem": renewed.private_key_pem,
        "certificate_pem": renewed.certificate_pem});
    w.b.secrets.set(&secret_id, &secret.to_string()).await;
    w.sim.arrive(P1, A);
    w.new_process_keeping_secrets();
    let report = w.run(A).await;
    assert_eq!((report.outcome, report.delivered), (Outcome::Ok, 1), "{report:#?}");
    assert_eq!(report.needs_action, None);
}

/// A warm process keeps what it read of a secret for a while; a pair staged by `certificate
/// stage` marks the secret's connections changed, so the next run of each reads the secret
/// again and tries the staged pair, instead of after the cache expired.
pub(crate) async fn a_staged_pair_is_tried_by_the_next_run(mut w: World) {
    w.fetcher.secrets = Arc::new(delivery::secrets_cache::CachedSecrets::new(
        w.fetcher.secrets.clone(),
        std::time::Duration::from_secs(3600),
    ));
    w.connect(A).await;
    assert_eq!(w.run(A).await.outcome, Outcome::Ok);
    let tokens = |w: &World| {
        w.sim
            .counters()
            .into_iter()
            .filter(|((route, _), _)| route == "token")
            .map(|(_, c)| c.requests)
            .sum::<u64>()
    };
    // Staged in the secret (the entity has not uploaded it yet: e-Box refuses it).
    let secret_id = w.b.secret_name(&format!("ebox/{A}"));
    let stored = w.b.secrets.store().get(&secret_id).await.unwrap();
    let mut secret =
        delivery::secret::ConnectionSecret::decode(&secret_id, secrecy::ExposeSecret::expose_secret(&stored)).unwrap();
    let next = testkit::KeyMaterial::generate("next");
    secret
        .stage(&secret_id, &next.private_key_pem, &next.certificate_pem)
        .unwrap();
    w.b.secrets.set(&secret_id, &secret.encode()).await;
    // Not yet marked: the kept secret is used, and only the current pair is tried.
    w.new_process_keeping_secrets();
    w.sim.reset_counters();
    let kept = w.run(A).await;
    assert_eq!((kept.outcome, tokens(&w)), (Outcome::Ok, 1), "{kept:#?}");
    // Marked changed, as `certificate stage` marks them: the next run tries the next pair.
    let entity = EntityId::parse(A).unwrap();
    assert!(w.b.connections.touch(&entity, Utc::now()).await.unwrap());
    w.new_process_keeping_secrets();
    w.sim.reset_counters();
    let report = w.run(A).await;
    assert_eq!(
        report.certificate_pair,
        Some(delivery::fetch::credentials::Pair::Current)
    );
    assert_eq!(
        (report.outcome, tokens(&w)),
        (Outcome::Ok, 2),
        "the next pair, refused, then the current"
    );
}
