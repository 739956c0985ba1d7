//! Connection health and the reconcile, on both backends (and health on e-Box's twin).

use chrono::Duration;
use delivery::EntityId;
use delivery::fetch::Outcome;
use delivery::health::{Action, HealthState};
use serde_json::json;

use super::{A, B, P1, World, provider};

async fn health_of(w: &World, entity: &str) -> delivery::health::Health {
    let id = EntityId::parse(entity).unwrap();
    let c = w.b.connections.get(&id).await.unwrap().expect("connection");
    c.health.unwrap_or_else(|| panic!("no health recorded for {entity}"))
}

pub(super) async fn a_revoked_client_needs_action_and_a_restored_one_is_ok_again(mut w: World) {
    w.connect(A).await;
    w.connect(B).await;
    w.generate(A, 2, 1, 1_000);
    w.generate(B, 2, 1, 1_000);
    for e in [A, B] {
        assert_eq!(w.run(e).await.outcome, Outcome::Ok);
        assert_eq!(health_of(&w, e).await.state, HealthState::Ok);
    }
    // The entity removes its webservice account: tokens it holds stop working too.
    assert!(w.sim.revoke_client(&format!("client-{A}")));
    w.add(P1, A, json!({"message_id": "while-refused"}));
    w.add(P1, B, json!({"message_id": "while-refused"}));
    // Refused at the token, or (with a token from before) at the listing.
    let refused = w.run(A).await;
    assert!(
        matches!(refused.outcome, Outcome::Failed | Outcome::Partial),
        "{refused:#?}"
    );
    assert_eq!(refused.delivered, 0);
    assert_eq!(refused.needs_action, Some(Action::WebserviceAccount), "{refused:#?}");
    let health = health_of(&w, A).await;
    assert_eq!(health.state, HealthState::NeedsAction);
    assert_eq!(health.action, Some(Action::WebserviceAccount));
    let instruction = health.instruction().unwrap();
    assert!(
        instruction.contains("ChaMan") && instruction.contains("DocConsumer e-Box Enterprise"),
        "{instruction}"
    );
    assert!(
        health.reason.as_deref().unwrap().contains("invalid_client"),
        "{health:?}"
    );
    // Refused again: the state holds, with the moment it started.
    w.advance(Duration::hours(1));
    w.run(A).await;
    assert_eq!(
        health_of(&w, A).await.since,
        health.since,
        "written only when it changes"
    );
    // The other entity is not affected.
    let other = w.run(B).await;
    assert_eq!((other.outcome, other.delivered), (Outcome::Ok, 1));
    assert_eq!(health_of(&w, B).await.state, HealthState::Ok);
    // The account is made again with the same certificate: the next run is ok.
    w.sim
        .register(&format!("client-{A}"), A, &w.keys[0].certificate_pem)
        .unwrap();
    let restored = w.run(A).await;
    assert_eq!(
        (restored.outcome, restored.delivered),
        (Outcome::Ok, 1),
        "{restored:#?}"
    );
    assert_eq!(health_of(&w, A).await.state, HealthState::Ok);
    w.assert_all_delivered(A).await;
}

pub(super) async fn a_certificate_e_box_does_not_hold_needs_its_upload(mut w: World) {
    w.connect(A).await;
    // The account holds another certificate than the key we sign with.
    let other = testkit::KeyMaterial::generate("someone else");
    w.sim
        .register(&format!("client-{A}"), A, &other.certificate_pem)
        .unwrap();
    let r = w.run(A).await;
    assert_eq!(r.outcome, Outcome::Failed);
    let health = health_of(&w, A).await;
    assert_eq!(health.state, HealthState::NeedsAction);
    assert_eq!(health.action, Some(Action::WebserviceAccount), "{health:?}");
    // A scope the client lacks.
    w.sim
        .register_with_scopes(&format!("client-{A}"), A, &w.keys[0].certificate_pem, &["scope:other"])
        .unwrap();
    let r = w.run(A).await;
    assert_eq!(r.needs_action, Some(Action::DocumentConsumerRegistration), "{r:#?}");
    assert_eq!(
        health_of(&w, A).await.action,
        Some(Action::DocumentConsumerRegistration)
    );
}

pub(super) async fn a_transient_failure_is_degraded_not_needs_action(w: World) {
    let mut w = w;
    w.connect(A).await;
    w.generate(A, 3, 1, 1_000);
    w.fault(json!({"route": "content", "provider": P1, "kind": {"type": "wrong_digest"}, "times": 1}));
    let r = w.run(A).await;
    assert_eq!(r.outcome, Outcome::Partial, "{r:#?}");
    let health = health_of(&w, A).await;
    assert_eq!((health.state, health.action), (HealthState::Degraded, None));
    assert_eq!(w.run(A).await.outcome, Outcome::Ok);
    assert_eq!(health_of(&w, A).await.state, HealthState::Ok);
}

pub(super) async fn a_reconcile_delivers_what_the_walk_from_the_cursor_cannot_see(mut w: World) {
    w.connect(A).await;
    w.generate(A, 4, 1, 1_000);
    assert_eq!(w.run(A).await.delivered, 4);
    // A message that shows up later with a receipt date well before the overlap (one
    // unhidden in the web UI, say).
    let old = w.sim.now() - Duration::days(20);
    w.add(
        P1,
        A,
        json!({"message_id": "surfaced-late", "received_at": old.to_rfc3339()}),
    );
    w.sim.reset_counters();
    w.state.take();
    let normal = w.run(A).await;
    assert_eq!((normal.outcome, normal.delivered), (Outcome::Ok, 0));
    assert_eq!(normal.reconcile_found_missing, None, "no reconcile was due");
    // The idle cost of a normal run: one list request per provider, one state read.
    assert_eq!(w.sim.requests_of(A), 2, "{:?}", w.sim.counters());
    assert_eq!(w.state.take(), std::collections::BTreeMap::from([("snapshot", 1)]));

    w.sim.reset_counters();
    let reconcile = w.reconcile(A).await;
    assert_eq!(
        (reconcile.outcome, reconcile.delivered),
        (Outcome::Ok, 1),
        "{reconcile:#?}"
    );
    assert_eq!(reconcile.reconcile_found_missing, Some(1));
    assert_eq!(provider(&reconcile, P1).found_missing, 1);
    // List requests only, and the one message's own: nothing known is downloaded again.
    let downloads: u64 = w
        .sim
        .counters()
        .into_iter()
        .filter(|((route, _), _)| route != "list" && route != "token" && route != "providers")
        .map(|((route, _), c)| if route == "content" { c.requests } else { 0 })
        .sum();
    assert!(downloads <= 1, "{:?}", w.sim.counters());
    let metrics: serde_json::Value =
        serde_json::from_str(&delivery::metrics::RunMetrics::from_report(&reconcile, reconcile.finished_at).emf_line())
            .unwrap();
    assert_eq!(metrics["ReconcileFoundMissing"], 1, "{metrics}");
    assert!(reconcile.last_reconcile_at.is_some());
    w.assert_all_delivered(A).await;

    // Due by itself once a day: a day later the run reconciles, and finds nothing.
    w.fetcher.settings.reconcile_interval = Some(Duration::days(1));
    w.advance(Duration::hours(2));
    let soon = w.run(A).await;
    assert_eq!(soon.reconcile_found_missing, None, "not twice within the day");
    w.advance(Duration::days(1));
    let daily = w.run(A).await;
    assert_eq!(daily.reconcile_found_missing, Some(0), "{daily:#?}");
    assert!(daily.last_reconcile_at > reconcile.last_reconcile_at);
}
