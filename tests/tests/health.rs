//! Connection health, the fleet's count and the reconcile, the way AWS runs them: moto,
//! the e-Box simulator, and both functions under `cargo lambda watch`.

use chrono::{Duration, Utc};
use delivery::EntityId;
use delivery::health::{Action, HealthState};
use delivery::ports::{ConnectionAdmin, ConnectionReader};
use e2e::{System, fixture};
use ebox_sim::faults::Fault;
use serde_json::{Value, json};

const OK: &str = "0403170701";
const REVOKED: &str = "0123456749";
const EXPIRING: &str = "1000000021";
const DISABLED: &str = "0200000043";
const PROVIDER: &str = "ebox-enterprise";

fn fault(value: Value) -> Fault {
    serde_json::from_value(value).unwrap()
}

/// The fleet line fanout logged after `mark`: its metric values by name.
fn fleet_metrics(logs: &str) -> Option<Value> {
    logs.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("_aws").is_some() && v.get("ConnectionsEnabled").is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_fleet_is_counted_and_refused_credentials_need_action() {
    let mut system = System::start().await;
    let stale = testkit::backend::entity(7, 1).to_string();
    for e in [OK, REVOKED, EXPIRING, stale.as_str()] {
        system.connect(e, true).await;
    }
    system.connect(DISABLED, false).await;
    // Made weeks ago, and never a successful run since: its listing is refused. (Faults
    // that fail at once: `cargo lambda watch` runs one fetch at a time, and a run that
    // retries for long would hold up the others' invokes.)
    let connections = system.connections();
    let id = EntityId::parse(&stale).unwrap();
    let mut old = connections.get(&id).await.unwrap().unwrap();
    old.created_at = Utc::now() - Duration::days(30);
    connections.put(&old).await.unwrap();
    // An onboarding requested a month ago, still waiting for its ClientID: stuck, not run.
    let onboarding = testkit::backend::entity(7, 2);
    let month_ago = Utc::now() - Duration::days(30);
    let mut waiting = delivery::ports::Connection::new(
        onboarding,
        "onboarding",
        delivery::ports::CredentialsRef::AwaitingClientId,
        month_ago,
    );
    waiting.onboarding = Some(delivery::onboarding::Onboarding::requested(None, month_ago));
    connections.put(&waiting).await.unwrap();
    system.sim.add_fault(fault(
        json!({"route": "list", "enterprise": stale, "kind": {"type": "status", "status": 400}}),
    ));
    // The entity removes its webservice account.
    assert!(system.sim.revoke_client(&format!("client-{REVOKED}")));
    // Its mail cannot be downloaded, and expires in three days.
    system.sim.add_fault(fault(
        json!({"route": "content", "enterprise": EXPIRING, "kind": {"type": "wrong_digest"}}),
    ));
    for provider in ["ebox-enterprise", "vlaamse-overheid"] {
        for m in system.sim.messages(provider, EXPIRING) {
            system.sim.update_message(provider, EXPIRING, &m.id, |m, now| {
                m.expiration = now + Duration::days(3)
            });
        }
    }
    let runs = [OK, REVOKED, EXPIRING, stale.as_str()];

    // The first tick: no health yet, the old connection already stale.
    let mark = system.log_mark();
    let tick = system
        .invoke("fanout", &fixture("functions/fanout/fixtures/scheduled-event.json"))
        .await;
    assert_eq!(
        (tick["dispatched"].as_u64(), tick["skipped_onboarding"].as_u64()),
        (Some(4), Some(1)),
        "{tick}"
    );
    assert_eq!(
        tick["fleet"],
        json!({"enabled": 4, "ok": 0, "degraded": 0, "needs_action": 0, "stale": 1, "mail_expiring": 0,
               "onboarding": 1, "onboarding_stuck": 1}),
        "{tick}"
    );
    let first = system.wait_for_runs(&runs, mark).await;
    assert_eq!(first[OK]["outcome"], "ok", "{}", first[OK]);
    assert_eq!(
        first[REVOKED]["needs_action"], "webservice_account",
        "{}",
        first[REVOKED]
    );

    // The second tick counts what the first one's runs showed, from their stored state.
    let mark = system.log_mark();
    let tick = system
        .invoke("fanout", &fixture("functions/fanout/fixtures/scheduler-input.json"))
        .await;
    assert_eq!(
        tick["fleet"],
        json!({"enabled": 4, "ok": 1, "degraded": 2, "needs_action": 1, "stale": 1, "mail_expiring": 1,
               "onboarding": 1, "onboarding_stuck": 1}),
        "{tick}"
    );
    system.wait_for_runs(&runs, mark).await;
    // The same counts as CloudWatch metrics, in fanout's embedded metric format line.
    let metrics = fleet_metrics(&system.watch.logs()[mark..]).expect("fanout's fleet line");
    for (name, value) in [
        ("ConnectionsEnabled", 4),
        ("ConnectionsOk", 1),
        ("ConnectionsDegraded", 2),
        ("ConnectionsNeedingAction", 1),
        ("ConnectionsStale", 1),
        ("ConnectionsWithMailExpiring", 1),
        ("ConnectionsOnboarding", 1),
        ("OnboardingsStuck", 1),
    ] {
        assert_eq!(metrics[name].as_f64(), Some(f64::from(value)), "{name}: {metrics}");
    }

    // The revoked one needs a person, with the step in the onboarding guide's words; the
    // others are unaffected.
    let health = |entity: &str| {
        let connections = system.connections();
        let id = EntityId::parse(entity).unwrap();
        async move { connections.get(&id).await.unwrap().unwrap().health.unwrap() }
    };
    let refused = health(REVOKED).await;
    assert_eq!(
        (refused.state, refused.action),
        (HealthState::NeedsAction, Some(Action::WebserviceAccount))
    );
    assert!(refused.instruction().unwrap().contains("DocConsumer e-Box Enterprise"));
    assert_eq!(health(OK).await.state, HealthState::Ok);
    system.assert_delivered(OK).await;
    // The account is made again: the next run is ok.
    let key = system.keys[1].certificate_pem.clone();
    system
        .sim
        .register(&format!("client-{REVOKED}"), REVOKED, &key)
        .unwrap();
    let run = system.invoke("fetch", &json!({"entity_id": REVOKED})).await;
    assert_eq!(run["outcome"], "ok", "{run}");
    assert_eq!(health(REVOKED).await.state, HealthState::Ok);
    system.assert_delivered(REVOKED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_delivers_what_the_cursor_walk_cannot_see() {
    let mut system = System::start().await;
    system.connect(OK, true).await;
    let first = system.invoke("fetch", &json!({"entity_id": OK})).await;
    assert_eq!(first["outcome"], "ok", "{first}");
    // A message that shows up later with a receipt date well before the overlap.
    let late = system.sim.arrive(PROVIDER, OK);
    system
        .sim
        .update_message(PROVIDER, OK, &late, |m, now| m.receipt = now - Duration::days(20));
    let normal = system.invoke("fetch", &json!({"entity_id": OK})).await;
    assert_eq!(
        (&normal["outcome"], &normal["delivered"]),
        (&json!("ok"), &json!(0)),
        "{normal}"
    );
    assert!(normal.get("reconcile_found_missing").is_none(), "{normal}");
    let mark = system.log_mark();
    let reconcile = system
        .invoke("fetch", &json!({"entity_id": OK, "reconcile": true}))
        .await;
    assert_eq!(reconcile["delivered"], 1, "{reconcile}");
    assert_eq!(reconcile["reconcile_found_missing"], 1, "{reconcile}");
    system.assert_delivered(OK).await;
    let emf = system.watch.logs()[mark..]
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("ReconcileFoundMissing").is_some())
        .expect("the run's metrics line");
    assert_eq!(emf["ReconcileFoundMissing"].as_f64(), Some(1.0), "{emf}");
}

/// A certificate rotation as the functions run it, in one warm fetch process: the key
/// secret shared by three entities gets a next pair; one entity accepts only the next
/// certificate, one only the current one (with a token from the current key still cached
/// in the process), and one both. All deliver, each on the pair e-Box accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_delivers_on_whichever_pair_each_entity_accepts() {
    // Secrets read afresh on every run, so that the staged pair is seen at once (deployed,
    // a warm process sees it within SECRETS_CACHE_SECONDS); the token cache stays.
    let mut system = System::with_env(&[("SECRETS_CACHE_SECONDS", "0")]).await;
    let (next_only, current_only, both) = (OK, REVOKED, EXPIRING);
    system.connect(next_only, true).await;
    system.connect_shared(current_only, next_only).await;
    system.connect_shared(both, next_only).await;
    // A first run of each, before the rotation: tokens of the current key are cached.
    for e in [next_only, current_only, both] {
        let run = system.invoke("fetch", &json!({"entity_id": e})).await;
        assert_eq!(
            (&run["outcome"], &run["certificate_pair"]),
            (&json!("ok"), &json!("current")),
            "{run}"
        );
    }
    // The next pair staged in the shared key secret.
    let next = testkit::KeyMaterial::generate("digipost next");
    let secret_id = system.secret_id(next_only);
    let secrets = testkit::backend::Secrets::Moto(system.clients.clone());
    let current = &system.keys[0];
    let value = json!({
        "client_id": format!("client-{next_only}"),
        "private_key_pem": current.private_key_pem,
        "certificate_pem": current.certificate_pem,
        "next_private_key_pem": next.private_key_pem,
        "next_certificate_pem": next.certificate_pem,
    });
    secrets.set(&secret_id, &value.to_string()).await;
    system
        .sim
        .register(&format!("client-{next_only}"), next_only, &next.certificate_pem)
        .unwrap();
    system
        .sim
        .register(&format!("client-{both}"), both, &next.certificate_pem)
        .unwrap();
    for e in [next_only, current_only, both] {
        system.sim.arrive(PROVIDER, e);
    }
    let pair_of = |run: &Value| run["certificate_pair"].clone();
    let mut runs = std::collections::HashMap::new();
    for e in [next_only, current_only, both] {
        let run = system.invoke("fetch", &json!({"entity_id": e})).await;
        assert_eq!(
            (&run["outcome"], &run["delivered"]),
            (&json!("ok"), &json!(1)),
            "{e}: {run}"
        );
        runs.insert(e, run);
    }
    assert_eq!(pair_of(&runs[next_only]), "next", "{}", runs[next_only]);
    assert_eq!(pair_of(&runs[both]), "next", "{}", runs[both]);
    // Refused with the next key; not served the cached token of the current one.
    assert_eq!(pair_of(&runs[current_only]), "current", "{}", runs[current_only]);
    let thumbprint = delivery::fetch::credentials::resolve_pairs(
        &delivery::aws::SecretsManager::new(system.clients.secrets.clone()),
        &system
            .connections()
            .get(&EntityId::parse(both).unwrap())
            .await
            .unwrap()
            .unwrap(),
    )
    .await
    .unwrap()
    .next
    .unwrap()
    .key
    .certificate()
    .sha256_thumbprint
    .clone();
    assert_eq!(runs[both]["certificate_thumbprint"], thumbprint.as_str());
    for e in [next_only, current_only, both] {
        system.assert_delivered(e).await;
    }
}
