//! The fetch use case end to end: e-Box through the simulator over HTTP with real signed
//! assertions; the stores in memory and, the same tests, on a real moto server. The
//! engine tests that need no transport (no injected fault, no request count) also run on
//! e-Box's in-process twin (`testkit::twin`), the simulator's state read without HTTP.

mod gated;
mod health;
mod round_three;
mod watched;

use health::*;
use round_three::*;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use delivery::EntityId;
use delivery::fetch::*;
use delivery::ports::*;
use delivery::verdeelbak::keys;
use ebox_sim::control::MessageSpec;
use ebox_sim::data::{CONSULT_SCOPE, OLD_CONSULT_SCOPES, REGISTRY_SCOPE, Scenario};
use ebox_sim::faults::Fault;
use ebox_sim::{SimConfig, Simulator};
use serde_json::{Value, json};
use testkit::backend::Backend;
use watched::{Cut, Watched};

const A: &str = "0403170701";
const B: &str = "0123456749";
const P1: &str = "ebox-enterprise";
const P2: &str = "vlaamse-overheid";

struct TestClock(Mutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

struct World {
    /// e-Box is the in-process twin, not HTTP.
    twin: bool,
    state: Arc<Watched>,
    b: Backend,
    sim: Simulator,
    fetcher: Fetcher,
    clock: Arc<TestClock>,
    keys: Vec<testkit::KeyMaterial>,
    /// The HTTP client's configuration, for tests that start a fresh client.
    ebox_config: ebox::EboxConfig,
}

/// e-Box over HTTP through the simulator.
async fn world(b: Backend) -> World {
    world_on(b, false).await
}

/// e-Box's in-process twin, on the simulator's state.
async fn twin_world(b: Backend) -> World {
    world_on(b, true).await
}

async fn world_on(b: Backend, twin: bool) -> World {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let config = testkit::sim_ebox_config(&sim);
    let clock = Arc::new(TestClock(Mutex::new(Utc::now())));
    let state = Watched::new(b.stores.clone(), b.objects.clone());
    let fetcher = Fetcher {
        connections: b.connections.clone(),
        stores: delivery::stores::Stores::of(state.clone()),
        objects: state.clone(),
        secrets: b.secrets.store(),
        events: b.events.clone(),
        ebox: if twin {
            Arc::new(testkit::twin::TwinEbox::new(sim.shared().clone()))
        } else {
            Arc::new(ebox::Ebox::new(config.clone()).unwrap())
        },
        clock: clock.clone(),
        settings: FetchSettings {
            concurrency: 4,
            // Reconciles only where a test asks for them.
            reconcile_interval: None,
            ..FetchSettings::default()
        },
    };
    World {
        twin,
        state,
        b,
        sim,
        fetcher,
        clock,
        keys: Vec::new(),
        ebox_config: config,
    }
}

impl World {
    /// Onboards an entity: a key and certificate, a client at e-Box, a secret, a connection.
    async fn connect(&mut self, entity: &str) {
        self.connect_with(entity, testkit::KeyMaterial::generate("digipost"))
            .await;
    }

    async fn connect_with(&mut self, entity: &str, key: testkit::KeyMaterial) {
        let secret_id = self.b.secret_name(&format!("ebox/{entity}"));
        let connections = self.b.connections.as_ref();
        testkit::backend::onboard(&self.sim, &self.b.secrets, connections, entity, &secret_id, &key).await;
        self.keys.push(key);
    }

    fn generate(&self, entity: &str, messages: usize, attachments: usize, size: u64) {
        self.sim.generate(&Scenario::of(9, entity, messages, attachments, size));
    }

    async fn run(&self, entity: &str) -> RunReport {
        self.run_request(FetchRequest {
            entity_id: entity.into(),
            ..FetchRequest::default()
        })
        .await
    }

    /// A run that walks everything e-Box holds, forced now.
    async fn reconcile(&self, entity: &str) -> RunReport {
        self.run_request(FetchRequest {
            entity_id: entity.into(),
            reconcile: true,
            ..FetchRequest::default()
        })
        .await
    }

    async fn run_request(&self, request: FetchRequest) -> RunReport {
        self.fetcher.run(&request, None).await
    }

    /// The run whose status is stored for the entity.
    async fn stored_run_id(&self, entity: &str) -> Value {
        let id = EntityId::parse(entity).unwrap();
        self.b
            .stores
            .reports
            .get_last(&id)
            .await
            .unwrap()
            .expect("a stored status")
            .report()
            .map(|r| Value::from(r.run_id.as_str()))
            .expect("a run report of this version")
    }

    /// A new e-Box client (no token or discovery cached), with the secrets as they were
    /// kept: a warm process after a token has expired.
    fn new_process_keeping_secrets(&mut self) {
        self.new_process();
        if self.twin {
            self.fetcher.ebox = Arc::new(testkit::twin::TwinEbox::new(self.sim.shared().clone()));
        }
    }

    /// A new e-Box client, as a new process has: nothing cached (discovery among it).
    fn new_process(&mut self) {
        if !self.twin {
            self.fetcher.ebox = Arc::new(ebox::Ebox::new(self.ebox_config.clone()).unwrap());
        }
    }

    fn fault(&self, fault: Value) {
        self.sim.add_fault(serde_json::from_value::<Fault>(fault).unwrap());
    }

    /// Every event a subscriber received, waiting for at least `n`.
    async fn events(&self, n: usize) -> Vec<Value> {
        self.b.tap.received(n, std::time::Duration::from_secs(20)).await
    }

    /// The bus refuses everything until [`World::mend_bus`]: in memory it is down, on
    /// moto the events go to a bus that does not exist.
    async fn break_bus(&mut self) {
        self.fetcher.events = match &self.b.tap {
            testkit::events::EventTap::Memory(bus) => {
                bus.set_down(true);
                self.b.events.clone()
            }
            testkit::events::EventTap::Queue { .. } | testkit::events::EventTap::Off => {
                let clients = self.b.moto.as_ref().expect("moto").clients().await;
                Arc::new(delivery::aws::EventBridgeBus::new(clients.events, "no-such-bus"))
            }
        };
    }

    fn mend_bus(&mut self) {
        if let testkit::events::EventTap::Memory(bus) = &self.b.tap {
            bus.set_down(false);
        }
        self.fetcher.events = self.b.events.clone();
    }

    async fn pending_rows(&self, entity: &str) -> usize {
        let id = EntityId::parse(entity).unwrap();
        self.b.stores.ledger.pending_events(&id, 1000).await.unwrap().len()
    }

    fn advance(&self, by: Duration) {
        *self.clock.0.lock().unwrap() += by;
    }

    async fn objects(&self, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        let mut all = BTreeMap::new();
        for meta in self.b.objects.list(prefix).await.unwrap() {
            let bytes = self.b.objects.get(&meta.key).await.unwrap().unwrap();
            all.insert(meta.key, bytes.to_vec());
        }
        all
    }

    /// Checks that every message of the entity's e-Box is in its verdeelbak, byte for
    /// byte, with one message.json and one ledger row each, and nothing else is there.
    async fn assert_all_delivered(&self, entity: &str) {
        let id = EntityId::parse(entity).unwrap();
        let prefix = Connection::default_prefix(&id);
        let objects = self.objects(&prefix).await;
        let mut expected = std::collections::BTreeSet::new();
        for provider in [P1, P2] {
            for m in self.sim.messages(provider, entity) {
                expected.extend(testkit::verdeelbak::assert_message_delivered(
                    &objects, &prefix, provider, &m,
                ));
                let entry = self
                    .b
                    .inspect
                    .ledger_entry(&id, provider, &m.id)
                    .await
                    .unwrap()
                    .expect("ledger row");
                assert_eq!(entry.message_key, json_key_of(&prefix, provider, &m.id));
            }
        }
        let unreadable = format!("{prefix}_unreadable/");
        let stored: std::collections::BTreeSet<String> = objects
            .keys()
            .filter(|k| !k.starts_with(&unreadable))
            .cloned()
            .collect();
        assert_eq!(stored, expected, "exactly the expected objects, nothing else");
    }
}

fn json_key_of(prefix: &str, provider: &str, id: &str) -> String {
    keys::message_json_key(&keys::message_folder(prefix, provider, id))
}

fn provider<'a>(r: &'a RunReport, id: &str) -> &'a ProviderReport {
    r.providers.iter().find(|p| p.provider_id == id).unwrap()
}

testkit::both_backends!(@with |b| super::world(b).await;

    first_run_delivers_everything_and_a_second_run_nothing,
    arrivals_while_paging_and_late_messages_are_delivered_once,
    a_run_killed_at_any_step_is_completed_exactly_once,
    one_run_per_entity_at_a_time,
    transient_faults_lose_nothing,
    a_bad_attachment_fails_its_message_only,
    entities_are_isolated_and_hostile_names_contained,
    bad_input_gives_one_clear_error_and_writes_nothing,
    dry_run_writes_nothing,
    shared_certificate_connections_work,
    a_run_emits_its_metrics,
    every_body_is_delivered_and_none_where_there_is_none,
    the_body_is_read_beside_the_attachments,
    a_registry_paging_in_fifties_loses_nothing,
    v2_and_v3_providers_give_the_same_message_json,
    an_unreadable_item_is_kept_raw_and_the_cursor_waits_for_it,
    bidi_and_zero_width_file_names_give_safe_keys_and_exact_names,
    a_cold_idle_run_lists_each_provider_once_and_nothing_more,
    older_scopes_and_scopes_of_a_connection_of_its_own,
    either_discovery_endpoint_and_a_bad_entry_skips_only_its_provider,
    every_delivered_message_is_announced_with_its_own_id_and_no_body,
    events_the_bus_did_not_take_are_published_by_the_next_run,
    registered_mail_has_its_retrieval_moment_on_record,
    a_download_cut_short_keeps_the_retrieval_moment,
    a_revoked_client_needs_action_and_a_restored_one_is_ok_again,
    a_certificate_e_box_does_not_hold_needs_its_upload,
    a_transient_failure_is_degraded_not_needs_action,
    a_reconcile_delivers_what_the_walk_from_the_cursor_cannot_see,
    a_message_hidden_before_the_first_run_is_delivered_once,
    a_v3_registry_in_the_new_shape_gives_what_a_v2_one_gives,
    a_message_moved_to_another_partition_is_not_new,
    a_provider_renamed_between_two_runs_delivers_nothing_twice,
    a_registry_at_a_new_url_is_recognised_by_its_messages,
    fields_are_kept_exactly_as_sent,
    a_renewed_key_is_read_again_when_e_box_refuses_the_kept_one,
    a_staged_pair_is_tried_by_the_next_run,
    an_onboarding_is_left_alone_until_a_test_of_its_client_id_connects_it,
);

// The engine tests again, with e-Box's in-process twin and the stores in memory.
testkit::on_the_twin!(|b| super::twin_world(b).await;
    a_run_killed_at_any_step_is_completed_exactly_once,
    entities_are_isolated_and_hostile_names_contained,
    bad_input_gives_one_clear_error_and_writes_nothing,
    dry_run_writes_nothing,
    shared_certificate_connections_work,
    every_body_is_delivered_and_none_where_there_is_none,
    v2_and_v3_providers_give_the_same_message_json,
    an_unreadable_item_is_kept_raw_and_the_cursor_waits_for_it,
    bidi_and_zero_width_file_names_give_safe_keys_and_exact_names,
    registered_mail_has_its_retrieval_moment_on_record,
    a_revoked_client_needs_action_and_a_restored_one_is_ok_again,
    a_message_hidden_before_the_first_run_is_delivered_once,
    a_v3_registry_in_the_new_shape_gives_what_a_v2_one_gives,
    a_message_moved_to_another_partition_is_not_new,
    a_provider_renamed_between_two_runs_delivers_nothing_twice,
    a_registry_at_a_new_url_is_recognised_by_its_messages,
    fields_are_kept_exactly_as_sent,
);

async fn first_run_delivers_everything_and_a_second_run_nothing(mut w: World) {
    w.connect(A).await;
    w.generate(A, 24, 2, 20_000);
    let report = w.run(A).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report:#?}");
    assert_eq!(report.delivered, 24);
    assert_eq!(provider(&report, P1).delivered, 12);
    assert_eq!(provider(&report, P2).delivered, 12);
    assert!(provider(&report, P1).cursor_after.is_some());
    w.assert_all_delivered(A).await;
    let last =
        w.b.stores
            .reports
            .get_last(&EntityId::parse(A).unwrap())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(last.report().unwrap().run_id, report.run_id);

    w.sim.reset_counters();
    w.state.take();
    let again = w.run(A).await;
    assert_eq!(again.outcome, Outcome::Ok);
    assert_eq!(again.delivered, 0);
    // The walk reaches back two days before the cursor: what it lists again (how much
    // depends on the time of day) is all known.
    let p1 = provider(&again, P1);
    assert!(p1.listed > 0 && p1.already_delivered == p1.listed, "{p1:?}");
    // Token, providers and reference data are reused: one list page per provider.
    assert_eq!(w.sim.requests_of(A), 2, "{:?}", w.sim.counters());
    // Nothing new: one read of the state, no ledger read (the cursors remember what the
    // overlapping walk lists again), no lease, no write.
    assert_eq!(w.state.take(), BTreeMap::from([("snapshot", 1)]));
    assert_eq!(
        w.stored_run_id(A).await,
        report.run_id.as_str(),
        "the stored status still holds"
    );
    w.assert_all_delivered(A).await;

    // Once the stored status is older than the status interval, an idle run refreshes it.
    w.advance(w.fetcher.settings.status_interval);
    let later = w.run(A).await;
    assert_eq!(later.outcome, Outcome::Ok);
    assert_eq!(w.state.take(), BTreeMap::from([("snapshot", 1), ("status put", 1)]));
    assert_eq!(w.stored_run_id(A).await, later.run_id.as_str());
}

async fn arrivals_while_paging_and_late_messages_are_delivered_once(mut w: World) {
    w.connect(A).await;
    w.generate(A, 260, 0, 0);
    w.fault(json!({"route": "list", "provider": P1, "kind": {"type": "shift_page"}, "times": 2}));
    let report = w.run(A).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report:#?}");
    assert_eq!(report.delivered, 262, "both arrivals during the walk were picked up");
    // A message received late on the cursor's own day, after the run.
    let cursor = provider(&report, P1).cursor_after.unwrap();
    let late = ebox_sim::control::MessageSpec {
        message_id: Some("late-same-day".into()),
        received_at: Some(cursor - Duration::minutes(1)),
        ..Default::default()
    }
    .into_message(w.sim.now())
    .unwrap();
    w.sim.add_message(P1, A, late);
    let next = w.run(A).await;
    assert_eq!(next.delivered, 1, "{next:#?}");
    w.assert_all_delivered(A).await;
}

async fn a_run_killed_at_any_step_is_completed_exactly_once(mut w: World) {
    w.connect(A).await;
    w.generate(A, 6, 1, 5_000);
    let cuts = [
        Cut::Before("put attachment"),
        Cut::After("put attachment"),
        Cut::Before("put message.json"),
        Cut::After("put message.json"),
        Cut::Before("ledger record"),
        Cut::After("ledger record"),
        Cut::Before("cursor advance"),
        Cut::After("cursor advance"),
        Cut::Before("status put"),
        Cut::After("lease release"),
    ];
    let request = FetchRequest {
        entity_id: A.into(),
        ..FetchRequest::default()
    };
    for cut in cuts {
        let cut_at = w.state.cut_run(&w.fetcher, &request, cut).await;
        // The lease of the dead run blocks until it expires: at its `until` itself it is
        // expired, in every store, and taken over.
        if !matches!(cut, Cut::After("lease release")) {
            assert_eq!(w.run(A).await.outcome, Outcome::AlreadyRunning, "after {cut:?}");
            w.advance(w.fetcher.settings.lease_duration);
        }
        let before = w.state.writes().len();
        let report = w.run(A).await;
        assert_eq!(report.outcome, Outcome::Ok, "after {cut:?}: {report:#?}");
        w.assert_all_delivered(A).await;
        // A message left complete but unrecorded is completed by its ledger row alone.
        if matches!(cut, Cut::After("put message.json") | Cut::Before("ledger record")) {
            let key = cut_at.expect("cut at a key");
            let folder = key.rsplit_once('/').unwrap().0;
            let rerun = &w.state.writes()[before..];
            let written: Vec<_> = rerun.iter().filter(|k| k.starts_with(folder)).collect();
            assert_eq!(written, [&format!("{folder}/(ledger row)")], "after {cut:?}");
        }
        // New mail for the next round.
        w.sim.arrive(P1, A);
        w.sim.arrive(P2, A);
    }
    let final_run = w.run(A).await;
    assert_eq!(final_run.delivered, 2);
    w.assert_all_delivered(A).await;
    w.state.assert_nothing_after_message_json();
    // Every message is announced by its own id, also the one whose run died between its
    // event and its row (announced again by the run that recorded it).
    let expected: BTreeSet<String> = [P1, P2]
        .iter()
        .flat_map(|p| w.sim.messages(p, A).into_iter().map(move |m| (p, m.id)))
        .map(|(p, id)| delivery::verdeelbak::event::event_id(A, p, &id))
        .collect();
    let events = w.events(expected.len()).await;
    let announced: BTreeSet<String> = events
        .iter()
        .map(|e| e["detail"]["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(announced, expected);
}

async fn one_run_per_entity_at_a_time(mut w: World) {
    w.connect(A).await;
    w.generate(A, 10, 1, 5_000);
    // Both runs list the same new mail; downloads are slow, so whichever takes the lease
    // first still holds it when the other wants to deliver.
    w.fault(json!({"route": "content", "kind": {"type": "latency", "ms": 300}, "times": 4}));
    let (r1, r2) = tokio::join!(w.run(A), w.run(A));
    let mut outcomes = [r1.outcome, r2.outcome];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(outcomes, [Outcome::AlreadyRunning, Outcome::Ok]);
    let running = if r1.outcome == Outcome::AlreadyRunning {
        &r1
    } else {
        &r2
    };
    assert!(running.held_by.as_ref().unwrap().contains("until"));
    assert_eq!(r1.delivered + r2.delivered, 10);
    w.assert_all_delivered(A).await;
}

async fn transient_faults_lose_nothing(mut w: World) {
    w.connect(A).await;
    w.generate(A, 240, 1, 2_000);
    w.fault(json!({"route": "token", "kind": {"type": "token_expires_after", "calls": 5}, "times": 1}));
    w.fault(json!({"route": "list", "kind": {"type": "status", "status": 429, "retry_after": "1"}, "times": 1}));
    w.fault(json!({"route": "content", "kind": {"type": "status", "status": 503}, "times": 3}));
    let report = w.run(A).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report:#?}");
    assert_eq!(report.delivered, 240);
    w.assert_all_delivered(A).await;

    // A listing that answers malformed JSON: the walk stops, nothing is lost, the cursor stays.
    w.sim.arrive(P1, A);
    w.fault(json!({"route": "list", "provider": P1, "kind": {"type": "malformed_json"}, "times": 1}));
    let broken = w.run(A).await;
    assert_eq!(broken.outcome, Outcome::Partial, "{broken:#?}");
    let p1 = provider(&broken, P1);
    assert!(!p1.walk_complete);
    assert!(p1.error.as_ref().unwrap().contains("malformed"), "{p1:?}");
    assert_eq!(p1.cursor_after, p1.cursor_before);
    let healed = w.run(A).await;
    assert_eq!(healed.outcome, Outcome::Ok);
    assert_eq!(healed.delivered, 1);
    w.assert_all_delivered(A).await;
}

async fn a_bad_attachment_fails_its_message_only(mut w: World) {
    w.connect(A).await;
    w.generate(A, 8, 1, 300_000);
    w.fault(json!({"route": "content", "provider": P1, "kind": {"type": "wrong_digest"}, "times": 1}));
    w.fault(json!({"route": "content", "provider": P2, "kind": {"type": "truncate", "after_bytes": 1000}, "times": 1}));
    let report = w.run(A).await;
    assert_eq!(report.outcome, Outcome::Partial, "{report:#?}");
    assert_eq!(report.delivered, 6);
    assert_eq!(report.failed, 2);
    let prefix = Connection::default_prefix(&EntityId::parse(A).unwrap());
    for p in [P1, P2] {
        let failure = &provider(&report, p).failed[0];
        assert_eq!(failure.step, Step::Attachment);
        assert!(failure.reason.contains("digest") && !failure.retryable, "{failure:?}");
        // Nothing of a failed message is in the verdeelbak, and the cursor is not past it.
        let folder = keys::message_folder(&prefix, p, &failure.message_id);
        assert!(w.objects(&folder).await.is_empty(), "{folder}");
        let failed = w
            .sim
            .messages(p, A)
            .into_iter()
            .find(|m| m.id == failure.message_id)
            .unwrap();
        assert!(provider(&report, p).cursor_after.unwrap() <= failed.receipt);
    }
    let retry = w.run(A).await;
    assert_eq!((retry.outcome, retry.delivered), (Outcome::Ok, 2), "{retry:#?}");
    w.assert_all_delivered(A).await;
}

async fn entities_are_isolated_and_hostile_names_contained(mut w: World) {
    w.connect(A).await;
    w.connect(B).await;
    // The same seed: both e-Boxes hold messages with the same ids.
    w.generate(A, 4, 1, 1_000);
    w.generate(B, 4, 1, 1_000);
    assert_eq!(w.sim.messages(P1, A)[0].id, w.sim.messages(P1, B)[0].id);
    let hostile = ebox_sim::control::MessageSpec {
        message_id: Some("../../0123456749/hostile".into()),
        attachments: [
            "../../etc/passwd",
            "/absolute/path.pdf",
            "ctrl\u{1}\u{7f}\n.pdf",
            &"lang".repeat(200),
            "same.pdf",
            "same.pdf",
        ]
        .iter()
        .enumerate()
        .map(|(i, name)| ebox_sim::control::AttachmentSpec {
            file_name: name.to_string(),
            size: Some(100 + i as u64),
            main_content: i == 0,
            ..Default::default()
        })
        .collect(),
        ..Default::default()
    }
    .into_message(w.sim.now())
    .unwrap();
    w.sim.add_message(P1, A, hostile);
    assert_eq!(w.run(A).await.delivered, 5);
    assert_eq!(w.run(B).await.delivered, 4);
    w.assert_all_delivered(A).await;
    w.assert_all_delivered(B).await;
    let a_prefix = "verdeelbak/0403170701/";
    let all = w.objects("").await;
    let a_keys: Vec<&String> = all.keys().filter(|k| k.starts_with(a_prefix)).collect();
    let b_keys: Vec<&String> = all.keys().filter(|k| k.starts_with("verdeelbak/0123456749/")).collect();
    assert_eq!(
        a_keys.len() + b_keys.len(),
        all.len(),
        "nothing outside the two prefixes"
    );
    let hostile_folder = keys::message_folder(a_prefix, P1, "../../0123456749/hostile");
    let hostile_keys: Vec<&&String> = a_keys.iter().filter(|k| k.starts_with(&hostile_folder)).collect();
    assert_eq!(
        hostile_keys.len(),
        7,
        "six attachments and message.json, none colliding: {hostile_keys:?}"
    );
    for key in hostile_keys {
        let rest = &key[hostile_folder.len()..];
        assert!(!key.contains("/../") && !key.contains("//"), "{key}");
        assert!(rest == "message.json" || rest.starts_with("attachments/att-"), "{key}");
        assert!(key.chars().all(|c| !c.is_control()), "{key:?}");
        assert!(key.len() < 400, "{key}");
    }
}

async fn bad_input_gives_one_clear_error_and_writes_nothing(mut w: World) {
    w.connect(A).await;
    w.generate(A, 3, 1, 1_000);
    let expect = |r: &RunReport, step: Step, words: &str| {
        assert_eq!(r.outcome, Outcome::Failed, "{r:#?}");
        let e = r.error.as_ref().unwrap();
        assert_eq!(e.step, step, "{e:?}");
        assert!(e.message.contains(words), "{e:?} should mention {words:?}");
        assert!(!e.retryable, "{e:?}");
    };
    expect(&w.run("0403170702").await, Step::Input, "check digits");
    expect(&w.run("../etc").await, Step::Input, "10 digits");
    expect(&w.run(B).await, Step::Connection, "no connection for entity 0123456749");

    let a = EntityId::parse(A).unwrap();
    let secret_id = w.b.secret_name(&format!("ebox/{A}"));
    let good = w.objects("").await;
    for (value, words) in [
        ("not json".to_string(), "not valid JSON"),
        (json!({"private_key_pem": "x"}).to_string(), "lacks client_id"),
        (json!({"client_id": "client-0403170701", "private_key_pem": w.keys[0].private_key_pem, "certificate_pem": testkit::KeyMaterial::generate("other").certificate_pem}).to_string(), "does not belong to the certificate"),
    ] {
        w.b.secrets.set(&secret_id, &value).await;
        let r = w.run(A).await;
        expect(&r, Step::Secret, words);
        assert!(r.error.as_ref().unwrap().message.contains(A), "names the entity");
    }
    // A key that e-Box does not know: the token is refused.
    let stranger = testkit::KeyMaterial::generate("stranger");
    w.b.secrets
        .set(&secret_id, &json!({"client_id": "client-0403170701", "private_key_pem": stranger.private_key_pem, "certificate_pem": stranger.certificate_pem}).to_string())
        .await;
    expect(&w.run(A).await, Step::Token, "invalid_client");
    w.b.connections.set_enabled(&a, false, Utc::now()).await.unwrap();
    expect(&w.run(A).await, Step::Connection, "disabled");
    assert_eq!(w.objects("").await, good, "nothing was written");
    assert!(good.is_empty());
}

async fn dry_run_writes_nothing(mut w: World) {
    w.connect(A).await;
    w.generate(A, 4, 2, 1_000);
    let report = w
        .run_request(FetchRequest {
            entity_id: A.into(),
            dry_run: true,
            ..FetchRequest::default()
        })
        .await;
    assert_eq!(report.outcome, Outcome::Ok);
    assert!(report.dry_run);
    let planned: Vec<&String> = report.providers.iter().flat_map(|p| &p.would_write).collect();
    // Four messages: two attachments and message.json each, and a body each, since e-Box
    // says of every message that it may have one (only reading it would tell, and reading
    // it can mark the message read).
    assert_eq!(planned.len(), 4 * 4, "{planned:?}");
    assert!(w.objects("").await.is_empty());
    assert_eq!(
        w.b.stores.reports.get_last(&EntityId::parse(A).unwrap()).await.unwrap(),
        None
    );
    assert_eq!(w.run(A).await.delivered, 4);
}

async fn shared_certificate_connections_work(mut w: World) {
    w.connect(A).await;
    // B uses DigiPost's shared certificate (A's key) with a ClientID of its own, kept in
    // its connection record: no secret of its own.
    let shared = &w.keys[0];
    w.sim.register("client-b", B, &shared.certificate_pem).unwrap();
    let certificate_secret = &w.b.secret_name("ebox/certificate");
    w.b.secrets
        .set(
            certificate_secret,
            &json!({"private_key_pem": shared.private_key_pem, "certificate_pem": shared.certificate_pem}).to_string(),
        )
        .await;
    let b = EntityId::parse(B).unwrap();
    w.b.connections
        .put(&Connection::new(
            b,
            "B",
            CredentialsRef::SharedCertificate {
                client_id: "client-b".into(),
                certificate_secret_id: certificate_secret.into(),
            },
            Utc::now(),
        ))
        .await
        .unwrap();
    w.generate(B, 3, 1, 1_000);
    let r = w.run(B).await;
    assert_eq!((r.outcome, r.delivered), (Outcome::Ok, 3), "{r:#?}");
    w.assert_all_delivered(B).await;
}

async fn a_run_emits_its_metrics(mut w: World) {
    use chrono::Datelike;
    let soon = Utc::now() + Duration::days(12);
    let key =
        testkit::KeyMaterial::generate_valid_until("expiring", (soon.year(), soon.month() as u8, soon.day() as u8));
    w.connect_with(A, key).await;
    w.generate(A, 5, 1, 2_000);
    w.fault(json!({"route": "content", "provider": P1, "kind": {"type": "wrong_digest"}, "times": 1}));
    let report = w.run(A).await;
    let metric_line = |report: &RunReport| -> Value {
        serde_json::from_str(&delivery::metrics::RunMetrics::from_report(report, report.finished_at).emf_line())
            .unwrap()
    };
    let emf = metric_line(&report);
    let directive = &emf["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "DigipostEbox");
    let names: HashSet<&str> = directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    for name in [
        "Delivered",
        "Failed",
        "Bytes",
        "Duration",
        "CertificateDaysToExpiry",
        "UndeliveredSecondsToExpiry",
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
    assert_eq!(emf["Delivered"], 4);
    assert_eq!(emf["Failed"], 1);
    let days = emf["CertificateDaysToExpiry"].as_u64().unwrap();
    assert!((10..=12).contains(&days), "certificate expires in {days} days");
    assert!(emf["UndeliveredSecondsToExpiry"].as_u64().unwrap() > 0);
    assert_eq!(emf["EntityId"], A);
    assert_eq!(emf["Outcome"], "partial");
    assert!(
        emf.get("SecondsSinceLastSuccess").is_none(),
        "never had a successful run"
    );

    // After a successful run, the time since it is reported by the next run.
    assert_eq!(w.run(A).await.outcome, Outcome::Ok);
    w.advance(Duration::hours(3));
    w.fault(json!({"route": "list", "provider": P1, "kind": {"type": "malformed_json"}, "times": 1}));
    let later = w.run(A).await;
    assert_eq!(later.outcome, Outcome::Partial);
    let emf = metric_line(&later);
    let since = emf["SecondsSinceLastSuccess"]
        .as_u64()
        .unwrap_or_else(|| panic!("{emf}\n{later:#?}"));
    assert!((3 * 3600..3 * 3600 + 120).contains(&since), "{since}");
}

fn spec(json: Value) -> MessageSpec {
    serde_json::from_value(json).unwrap()
}

impl World {
    fn add(&self, provider: &str, entity: &str, json: Value) {
        let m = spec(json).into_message(self.sim.now()).unwrap();
        self.sim.add_message(provider, entity, m);
    }

    async fn message_json(&self, entity: &str, provider: &str, id: &str) -> Value {
        let prefix = Connection::default_prefix(&EntityId::parse(entity).unwrap());
        let key = json_key_of(&prefix, provider, id);
        serde_json::from_slice(&self.b.objects.get(&key).await.unwrap().expect(&key)).unwrap()
    }
}

async fn the_body_is_read_beside_the_attachments(mut w: World) {
    w.connect(A).await;
    w.add(
        P1,
        A,
        json!({"message_id": "both", "body": {"nl": "Zie bijlage"}, "body_main_content": false,
        "body_inline": false, "attachments": [{"file_name": "brief.pdf", "main_content": true, "size": 3000}]}),
    );
    // The attachment's download waits for the body to be read: read after the
    // attachments, it never would be.
    w.fetcher.ebox = Arc::new(gated::BodyFirst {
        inner: w.fetcher.ebox.clone(),
        body_read: Arc::new(tokio::sync::Notify::new()),
    });
    let report = tokio::time::timeout(std::time::Duration::from_secs(20), w.run(A))
        .await
        .expect("the attachment waited for a body that was not read beside it");
    assert_eq!((report.outcome, report.delivered), (Outcome::Ok, 1), "{report:#?}");
    assert_eq!(w.message_json(A, P1, "both").await["body"]["nl"], "Zie bijlage");
}

async fn every_body_is_delivered_and_none_where_there_is_none(mut w: World) {
    w.connect(A).await;
    for p in [P1, P2] {
        // A body that is an annex beside a main attachment, one that is the main content,
        // and a message that has none (though e-Box lists bodyMainContent for it too).
        w.add(p, A, json!({"message_id": "annex", "body": {"nl": "Zie bijlage", "fr": "Voir annexe"},
            "body_main_content": false, "attachments": [{"file_name": "brief.pdf", "main_content": true, "size": 3000}]}));
        w.add(
            p,
            A,
            json!({"message_id": "main", "body": {"nl": "Dit is de brief", "de": "Das ist der Brief"},
            "body_main_content": true}),
        );
        w.add(
            p,
            A,
            json!({"message_id": "none", "attachments": [{"file_name": "x.pdf", "main_content": true, "size": 10}]}),
        );
    }
    let report = w.run(A).await;
    assert_eq!((report.outcome, report.delivered), (Outcome::Ok, 6), "{report:#?}");
    w.assert_all_delivered(A).await;
    for p in [P1, P2] {
        let annex = w.message_json(A, p, "annex").await;
        assert_eq!(annex["body_role"], "annex");
        assert_eq!(annex["body_main_content"], false);
        assert_eq!(annex["body"]["fr"], "Voir annexe");
        let main = w.message_json(A, p, "main").await;
        assert_eq!(main["body_role"], "main_content");
        let none = w.message_json(A, p, "none").await;
        assert_eq!(
            (&none["body"], &none["body_key"], &none["body_role"]),
            (&Value::Null, &Value::Null, &Value::Null)
        );
    }
}

async fn a_registry_paging_in_fifties_loses_nothing(mut w: World) {
    w.connect(A).await;
    let now = w.sim.now();
    for n in 0..180 {
        w.add(
            P1,
            A,
            json!({"message_id": format!("m{n:03}"), "received_at": now - Duration::minutes(n),
            "attachments": [{"file_name": "a.pdf", "main_content": true, "size": 200 + n}]}),
        );
    }
    let report = w.run(A).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report:#?}");
    let p1 = provider(&report, P1);
    assert_eq!((p1.listed, p1.delivered), (180, 180), "{p1:?}");
    assert!(p1.walk_complete);
    w.assert_all_delivered(A).await;
    let lists = w
        .sim
        .counters()
        .into_iter()
        .filter(|((r, _), _)| r == "list")
        .map(|(_, c)| c.requests)
        .sum::<u64>();
    assert_eq!(
        lists,
        4 + 1 + 2,
        "four pages of at most 50 for P1, one 404 for the empty P2, and a first walk's list of hidden mail for each"
    );
}

async fn v2_and_v3_providers_give_the_same_message_json(mut w: World) {
    w.connect(A).await;
    let message = json!({"message_id": "same", "registered_mail": true, "partition": "FINANCE",
        "subject": {"nl": "Aanslag", "fr": "Avertissement", "de": "Bescheid"},
        "sender_organization_id": "0316380940", "sender_application_id": "vlabel", "message_type_id": "aanslagbiljet",
        "body": {"nl": "Bijlage"}, "body_main_content": false,
        "attachments": [{"file_name": "aanslag.pdf", "main_content": true, "size": 5000}, {"file_name": "info.pdf", "size": 100}]});
    w.add(P1, A, message.clone());
    w.add(P2, A, message);
    assert_eq!(w.run(A).await.delivered, 2);
    w.assert_all_delivered(A).await;
    let v3 = w.message_json(A, P1, "same").await;
    let v2 = w.message_json(A, P2, "same").await;
    assert_eq!(
        (v3["registry_version"].as_str(), v2["registry_version"].as_str()),
        (Some("v3"), Some("v2"))
    );
    assert_eq!(v3["partition"], "FINANCE");
    assert_eq!(v2["partition"], Value::Null, "v2 has no partitions");
    for field in [
        "registered_mail",
        "subject",
        "message_type",
        "body",
        "body_role",
        "body_main_content",
        "received_at",
        "expires_at",
    ] {
        assert_eq!(v3[field], v2[field], "{field}");
    }
    assert_eq!(v3["registered_mail"], true);
    assert_eq!(
        v3["sender"]["organization"],
        json!({"id": "0316380940", "name": {"nl": "Vlaamse Belastingdienst", "fr": "Service flamand des impôts", "de": "Flämischer Steuerdienst"}})
    );
    assert_eq!(v3["sender"]["organization"], v2["sender"]["organization"]);
    // v3's sender object names no application.
    assert_eq!(v2["sender"]["application"]["name"]["nl"], "Vlabel");
    assert_eq!(v3["message_type"]["name"]["nl"], "Aanslagbiljet");
    let mains = |j: &Value| {
        j["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["main_content"].as_bool().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(mains(&v3), [true, false]);
    assert_eq!(mains(&v2), mains(&v3));
    assert_eq!(v3["schema"], "digipost-ebox.message.v3");
}

async fn an_unreadable_item_is_kept_raw_and_the_cursor_waits_for_it(mut w: World) {
    w.connect(A).await;
    let now = w.sim.now();
    for n in 0..120 {
        w.add(
            P2,
            A,
            json!({"message_id": format!("m{n:03}"), "received_at": now - Duration::minutes(n)}),
        );
    }
    let raw = json!({"subject": {"nl": "zonder id"}, "receiptDate": "2026-01-01T00:00:00Z", "messageIdentifier": 7});
    w.sim
        .add_raw_item(P2, A, raw.clone(), now - Duration::seconds(60 * 60 + 30));
    let report = w.run(A).await;
    assert_eq!(report.outcome, Outcome::Partial, "someone must look: {report:#?}");
    let p2 = provider(&report, P2);
    assert_eq!(
        (p2.listed, p2.delivered),
        (121, 120),
        "the rest of its page and walk: {p2:?}"
    );
    assert_eq!(p2.unreadable.len(), 1);
    let key = p2.unreadable[0].key.clone().expect("kept");
    let sha = hex(sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(
        serde_json::to_vec(&raw).unwrap(),
    )));
    assert_eq!(key, format!("verdeelbak/{A}/_unreadable/{P2}/{sha}.json"));
    let kept: Value = serde_json::from_slice(&w.b.objects.get(&key).await.unwrap().unwrap()).unwrap();
    assert_eq!(kept, raw, "exactly as listed");
    w.assert_all_delivered(A).await;
    let metrics = |r: &RunReport| -> Value {
        serde_json::from_str(&delivery::metrics::RunMetrics::from_report(r, r.finished_at).emf_line()).unwrap()
    };
    assert_eq!(metrics(&report)["Unreadable"], 1);
    // The cursor holds back, so every walk looks at it again; the copy is written once.
    let held = p2.cursor_after;
    let objects = w.objects("").await.len();
    let again = w.run(A).await;
    assert_eq!(
        held,
        Some(chrono::DateTime::UNIX_EPOCH),
        "no cursor yet: held at the start"
    );
    assert_eq!(provider(&again, P2).cursor_after, held);
    assert_eq!(provider(&again, P2).listed, 121, "the whole list, walked again");
    assert_eq!(
        provider(&again, P2).unreadable[0].first_seen,
        p2.unreadable[0].first_seen
    );
    assert_eq!(w.objects("").await.len(), objects);
    // After the hold it moves on; the raw copy stays, and so does the metric.
    w.advance(w.fetcher.settings.unreadable_hold + Duration::minutes(1));
    let later = w.run(A).await;
    let moved = provider(&later, P2);
    assert!(moved.cursor_after > held, "{moved:?}");
    // The newest message, to the second as e-Box writes dates.
    let newest = w.sim.messages(P2, A)[0].receipt;
    assert_eq!(moved.cursor_after, Some(chrono::SubsecRound::trunc_subsecs(newest, 0)));
    assert_eq!(metrics(&later)["Unreadable"], 1);
    assert!(w.b.objects.get(&key).await.unwrap().is_some());
}

async fn bidi_and_zero_width_file_names_give_safe_keys_and_exact_names(mut w: World) {
    w.connect(A).await;
    let names = [
        "Factuur\u{202E}fdp.exe",
        "zero\u{200B}width\u{200D}.pdf",
        "\u{2066}isolated\u{2069}.pdf",
        "bom\u{FEFF}soft\u{AD}hyphen.pdf",
        "line\u{2028}sep\u{85}next.pdf",
    ];
    let attachments: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"file_name": n, "size": 50 + i, "main_content": i == 0}))
        .collect();
    w.add(
        P1,
        A,
        json!({"message_id": "hostile-names", "attachments": attachments}),
    );
    assert_eq!(w.run(A).await.delivered, 1);
    w.assert_all_delivered(A).await;
    let json = w.message_json(A, P1, "hostile-names").await;
    for (stored, name) in json["attachments"].as_array().unwrap().iter().zip(names) {
        assert_eq!(stored["file_name"], name, "exact in message.json");
        let key = stored["key"].as_str().unwrap();
        assert!(!key.chars().any(testkit::verdeelbak::hides_meaning), "{key:?}");
    }
    for key in w.objects("").await.keys() {
        assert!(!key.chars().any(testkit::verdeelbak::hides_meaning), "{key:?}");
    }
}

async fn a_cold_idle_run_lists_each_provider_once_and_nothing_more(mut w: World) {
    w.connect(A).await;
    // Mail at one provider only: the other's list is empty, and stays known as empty (no
    // list of its hidden mail, no look for it under another name, each run).
    w.sim.generate(&Scenario::of(9, A, 12, 1, 1_000).at(P1));
    assert_eq!(w.run(A).await.delivered, 12);
    // A cold process: nothing cached, nothing new.
    w.fetcher.ebox = Arc::new(ebox::Ebox::new(w.ebox_config.clone()).unwrap());
    w.sim.reset_counters();
    let idle = w.run(A).await;
    assert_eq!((idle.outcome, idle.delivered), (Outcome::Ok, 0));
    let by_route: BTreeMap<String, u64> =
        w.sim
            .counters()
            .into_iter()
            .map(|((r, _), c)| (r, c.requests))
            .fold(BTreeMap::new(), |mut m, (r, n)| {
                *m.entry(r).or_default() += n;
                m
            });
    let active = 2;
    assert_eq!(
        by_route,
        BTreeMap::from([("list".into(), active), ("providers".into(), 1), ("token".into(), 1)]),
        "one token, one registry and one list request per active provider; no reference data"
    );
    assert_eq!(w.sim.requests_of(A), 2 + active, "{by_route:?}");
}

async fn older_scopes_and_scopes_of_a_connection_of_its_own(mut w: World) {
    // A: onboarded earlier, granted the older scopes. The token request names none.
    w.connect(A).await;
    let mut old: Vec<&str> = OLD_CONSULT_SCOPES.to_vec();
    old.push(REGISTRY_SCOPE);
    w.sim
        .register_with_scopes(&format!("client-{A}"), A, &w.keys[0].certificate_pem, &old)
        .unwrap();
    w.generate(A, 4, 1, 1_000);
    let r = w.run(A).await;
    assert_eq!((r.outcome, r.delivered), (Outcome::Ok, 4), "{r:#?}");
    w.assert_all_delivered(A).await;

    // B: a connection that names the newer scopes its account was not granted.
    w.connect(B).await;
    w.sim
        .register_with_scopes(&format!("client-{B}"), B, &w.keys[1].certificate_pem, &old)
        .unwrap();
    let b = EntityId::parse(B).unwrap();
    let mut connection = w.b.connections.get(&b).await.unwrap().unwrap();
    connection.scopes = Some(vec![CONSULT_SCOPE.into(), REGISTRY_SCOPE.into()]);
    w.b.connections.put(&connection).await.unwrap();
    w.generate(B, 2, 1, 1_000);
    let refused = w.run(B).await;
    assert_eq!(refused.outcome, Outcome::Failed);
    let e = refused.error.as_ref().unwrap();
    assert_eq!(e.step, Step::Token);
    assert!(
        e.message.contains(B) && e.message.contains("invalid_scope") && e.message.contains(CONSULT_SCOPE),
        "{e:?}"
    );
    assert!(e.message.contains("connection's scopes"), "says what to do: {e:?}");
    assert!(!e.retryable);
    // Naming the scopes it was granted works.
    connection.scopes = Some(old.iter().map(|s| s.to_string()).collect());
    w.b.connections.put(&connection).await.unwrap();
    assert_eq!(w.run(B).await.delivered, 2);
    w.assert_all_delivered(B).await;
}

async fn either_discovery_endpoint_and_a_bad_entry_skips_only_its_provider(mut w: World) {
    w.connect(A).await;
    w.generate(A, 6, 1, 1_000);
    // An entry without a URL, and one that is no object at all.
    w.sim
        .add_raw_provider_entry(json!({"messageProviderId": "broken", "id": "broken", "apiSupportedVersion": "3.0"}));
    w.sim.add_raw_provider_entry(json!(42));
    let current = w.run(A).await;
    assert_eq!(
        (current.outcome, current.delivered),
        (Outcome::Partial, 6),
        "{current:#?}"
    );
    let broken = provider(&current, "broken");
    assert_eq!(broken.state, ProviderStatus::Failed);
    assert!(broken.error.as_ref().unwrap().contains("no URL"), "{broken:?}");
    assert!(current.providers.iter().any(|p| p.provider_id == "(no id)"));
    w.assert_all_delivered(A).await;
    // The older Provider Registry, in a fresh process: the same providers, nothing new.
    let mut config = w.ebox_config.clone();
    config.provider_registry_url = w.sim.message_providers_url();
    w.fetcher.ebox = Arc::new(ebox::Ebox::new(config).unwrap());
    w.sim.arrive(P2, A);
    let older = w.run(A).await;
    assert_eq!(older.delivered, 1, "{older:#?}");
    assert_eq!(provider(&older, P1).state, ProviderStatus::Read);
    assert_eq!(provider(&older, "broken").state, ProviderStatus::Failed);
    w.assert_all_delivered(A).await;
}

/// What a router needs, checked against the simulator's own messages.
fn assert_event_of(detail: &Value, entity: &str, m: &ebox_sim::model::Message, provider: &str) {
    let prefix = Connection::default_prefix(&EntityId::parse(entity).unwrap());
    let folder = keys::message_folder(&prefix, provider, &m.id);
    assert_eq!(detail["schema"], "digipost-ebox.event.v1");
    assert_eq!(detail["entity_id"], entity);
    assert_eq!(detail["message_json_key"], keys::message_json_key(&folder));
    assert_eq!(detail["message_folder"], folder);
    assert_eq!(detail["registered_mail"], m.registered_mail);
    assert_eq!(detail["subject"]["nl"].as_str(), m.subject.nl.as_deref());
    assert_eq!(detail["attachments"]["count"], m.attachments.len());
    let total: u64 = m.attachments.iter().map(|a| a.content.len()).sum();
    assert_eq!(detail["attachments"]["total_bytes"], total);
    assert_eq!(
        detail["event_id"],
        delivery::verdeelbak::event::event_id(entity, provider, &m.id)
    );
    let text = detail.to_string();
    if let Some(body) = m.body.as_ref().and_then(|b| b.nl.as_deref()) {
        assert!(!text.contains(body), "a body in an event: {text}");
    }
    for secret in ["PRIVATE KEY", "CERTIFICATE", "access_token"] {
        assert!(!text.contains(secret), "{secret} in an event: {text}");
    }
}

async fn every_delivered_message_is_announced_with_its_own_id_and_no_body(mut w: World) {
    w.connect(A).await;
    w.connect(B).await;
    w.generate(A, 8, 1, 2_000);
    w.state.take();
    let report = w.run(A).await;
    assert_eq!(report.delivered, 8, "{report:#?}");
    assert_eq!(report.events.published, 8, "{:?}", report.events);
    // Each event went out before its row, which was recorded published in its one write.
    let calls = w.state.take();
    assert_eq!(calls.get("ledger record"), Some(&8), "{calls:?}");
    assert_eq!(calls.get("ledger event published"), None, "{calls:?}");
    assert_eq!(report.events.pending, 0);
    let registered: u64 = [P1, P2]
        .iter()
        .flat_map(|p| w.sim.messages(p, A))
        .filter(|m| m.registered_mail)
        .count() as u64;
    assert_eq!(report.events.registered_delivered, registered);
    let events = w.events(8).await;
    assert_eq!(events.len(), 8, "{events:#?}");
    let mut by_id = BTreeMap::new();
    for e in &events {
        assert_eq!(e["source"], "digipost-ebox");
        assert_eq!(e["detail-type"], "e-Box message delivered");
        by_id.insert(
            e["detail"]["event_id"].as_str().unwrap().to_owned(),
            e["detail"].clone(),
        );
    }
    for provider in [P1, P2] {
        for m in w.sim.messages(provider, A) {
            let id = delivery::verdeelbak::event::event_id(A, provider, &m.id);
            assert_event_of(&by_id[&id], A, &m, provider);
        }
    }
    assert_eq!(w.pending_rows(A).await, 0, "every row marked published");
    // Another entity's run announces nothing of A's, and nothing at all when idle.
    let other = w.run(B).await;
    assert_eq!((other.delivered, other.events.published), (0, 0));
    assert_eq!(w.events(8).await.len(), 8);
}

async fn events_the_bus_did_not_take_are_published_by_the_next_run(mut w: World) {
    w.connect(A).await;
    w.generate(A, 6, 1, 1_000);
    w.break_bus().await;
    let down = w.run(A).await;
    // The mail is delivered all the same; the events wait in the ledger.
    assert_eq!((down.outcome, down.delivered), (Outcome::Ok, 6), "{down:#?}");
    assert_eq!((down.events.published, down.events.pending), (0, 6));
    w.assert_all_delivered(A).await;
    assert_eq!(w.pending_rows(A).await, 6);
    assert!(w.events(0).await.is_empty());

    w.mend_bus();
    let next = w.run(A).await;
    assert_eq!(next.delivered, 0);
    assert_eq!((next.events.published, next.events.pending), (6, 0), "{next:#?}");
    assert_eq!(w.pending_rows(A).await, 0);
    let events = w.events(6).await;
    let ids: HashSet<&str> = events
        .iter()
        .map(|e| e["detail"]["event_id"].as_str().unwrap())
        .collect();
    assert_eq!((events.len(), ids.len()), (6, 6), "exactly the pending ones, once each");
    // Nothing is left: the run after publishes nothing and reads no pending rows.
    w.state.take();
    let idle = w.run(A).await;
    assert_eq!(idle.events, EventsReport::default());
    assert!(!w.state.take().contains_key("ledger pending events"));
}

async fn registered_mail_has_its_retrieval_moment_on_record(mut w: World) {
    w.connect(A).await;
    w.generate(A, 6, 1, 1_000);
    let ids: Vec<String> = w.sim.messages(P1, A).iter().map(|m| m.id.clone()).collect();
    let opened = &w.sim.messages(P2, A)[0].id.clone();
    let unopened = &ids[0];
    // Every main content fetched by a request of its own (a body that comes inline is
    // not a download, and e-Box does not mark its message read for it).
    for id in &ids {
        w.sim.update_message(P1, A, id, |m, _| {
            m.registered_mail = true;
            m.body_inline = false;
        });
    }
    // Someone opened one in the web UI before any run.
    w.sim.update_message(P2, A, opened, |m, _| {
        m.registered_mail = true;
        m.read = true;
    });
    let prefix = Connection::default_prefix(&EntityId::parse(A).unwrap());
    let message_json_of = |provider: &str, id: &str| {
        let key = json_key_of(&prefix, provider, id);
        let objects = w.b.objects.clone();
        async move {
            let bytes = objects.get(&key).await.unwrap().expect("message.json");
            serde_json::from_slice::<Value>(&bytes).unwrap()
        }
    };

    // A first attempt dies once it has stored the content of one message, which e-Box
    // now lists as read because of that download.
    // Kept to the millisecond.
    let started = chrono::SubsecRound::trunc_subsecs(w.clock.now(), 3);
    let request = FetchRequest {
        entity_id: A.into(),
        providers: Some(vec![P1.into()]),
        ..FetchRequest::default()
    };
    let cut = w
        .state
        .cut_run(&w.fetcher, &request, Cut::Before("put message.json"))
        .await
        .expect("the key of the cut write");
    let died_on = ids
        .iter()
        .find(|id| cut == json_key_of(&prefix, P1, id))
        .expect("a message of P1");
    assert!(
        w.sim.messages(P1, A).iter().any(|m| &m.id == died_on && m.read),
        "the first attempt retrieved {died_on}'s content"
    );
    w.advance(Duration::minutes(5));
    let later = w.clock.now();
    let report = w.run(A).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report:#?}");
    w.assert_all_delivered(A).await;

    let seen = message_json_of(P2, opened).await;
    assert_eq!(seen["read_before_retrieval"], true, "{seen:#}");
    let message_json = |id: &str| message_json_of(P1, id);
    for id in &ids {
        let m = message_json(id).await;
        // Read in e-Box by our own download only, also where a first attempt died.
        assert_eq!(m["read_before_retrieval"], false, "{id}: {m:#}");
        let at: DateTime<Utc> = m["retrieved_at"].as_str().unwrap().parse().unwrap();
        assert!(at >= started && at <= later, "{id}: {at} not within the runs");
    }
    assert!(
        w.sim.messages(P1, A).iter().all(|m| m.read),
        "every main content was retrieved"
    );
    // The event says the same.
    if !w.events(1).await.is_empty() {
        let events = w.events(6).await;
        let of = |provider: &str, id: &str| {
            let event_id = delivery::verdeelbak::event::event_id(A, provider, id);
            events
                .iter()
                .find(|e| e["detail"]["event_id"] == event_id.as_str())
                .cloned()
        };
        let e = of(P2, opened).expect("its event");
        assert_eq!(e["detail"]["read_before_retrieval"], true);
        assert_eq!(e["detail"]["registered_mail"], true);
        assert_eq!(
            of(P1, unopened).unwrap()["detail"]["retrieved_at"],
            message_json(unopened).await["retrieved_at"]
        );
    }
}

/// e-Box marks a message read as soon as its main content is asked for. A download that
/// breaks off (or a process that dies during it) stores nothing, yet the next listing says
/// "read": the moment of that first download, kept before it, is what the next attempt
/// puts on record, not "read before retrieval".
async fn a_download_cut_short_keeps_the_retrieval_moment(mut w: World) {
    w.connect(A).await;
    w.generate(A, 4, 1, 50_000);
    let prefix = Connection::default_prefix(&EntityId::parse(A).unwrap());
    let started = chrono::SubsecRound::trunc_subsecs(w.clock.now(), 3);
    // Every content download of P1 breaks off after its first bytes, retries included.
    w.fault(json!({"route": "content", "provider": P1, "kind": {"type": "reset", "after_bytes": 100}}));
    let broken = w.run(A).await;
    assert_eq!(broken.outcome, Outcome::Partial, "{broken:#?}");
    let cut_short: Vec<String> = w
        .sim
        .messages(P1, A)
        .iter()
        .filter(|m| m.read && m.attachments.iter().any(|a| a.main_content))
        .map(|m| m.id.clone())
        .collect();
    assert!(!cut_short.is_empty(), "e-Box marked the cut-short downloads read");
    w.sim.clear_faults();
    w.advance(Duration::minutes(10));
    let report = w.run(A).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report:#?}");
    w.assert_all_delivered(A).await;
    for id in &cut_short {
        let m = w.message_json(A, P1, id).await;
        assert_eq!(m["read_before_retrieval"], false, "{id}: {m:#}");
        let at: DateTime<Utc> = m["retrieved_at"].as_str().unwrap().parse().unwrap();
        assert!(
            at >= started && at < started + Duration::minutes(10),
            "{id}: the first download's moment, not the second's: {at}"
        );
        assert!(w.b.objects.get(&json_key_of(&prefix, P1, id)).await.unwrap().is_some());
    }
}

async fn an_onboarding_is_left_alone_until_a_test_of_its_client_id_connects_it(w: World) {
    use delivery::onboarding::Step as Onboarding;
    let id = EntityId::parse(A).unwrap();
    let connections = w.b.connections.clone();
    let now = Utc::now();
    let requested = delivery::onboard::request(connections.as_ref(), id.clone(), "E", Some("FP-1".into()), now)
        .await
        .unwrap();
    w.generate(A, 3, 1, 1_000);
    let refused = w.run(A).await;
    assert_eq!(refused.outcome, Outcome::Failed);
    let error = refused.error.expect("an error");
    assert_eq!(error.step, Step::Connection);
    assert!(
        error.message.contains("not connected yet") && error.message.contains("requested"),
        "{}",
        error.message
    );
    assert!(w.objects("").await.is_empty(), "nothing written");

    // The ClientID comes, for an account e-Box does not (yet) know: a test records the refusal.
    let key = testkit::KeyMaterial::generate("digipost");
    let secret_id = w.b.secret_name(&format!("ebox/{A}"));
    let mut c = testkit::backend::onboard(&w.sim, &w.b.secrets, connections.as_ref(), A, &secret_id, &key).await;
    let mut onboarding = requested.onboarding.unwrap();
    onboarding.reach(Onboarding::ClientIdReceived, now).unwrap();
    c.onboarding = Some(onboarding);
    connections.put(&c).await.unwrap();
    assert!(w.sim.revoke_client(&format!("client-{A}")));
    let ebox = ebox::Ebox::new(w.ebox_config.clone()).unwrap();
    let secrets = w.b.secrets.store();
    let verdict = delivery::probe::probe(secrets.as_ref(), Ok(&ebox), &c).await;
    assert!(!verdict.works, "{}", verdict.text);
    assert_eq!(verdict.action, Some(delivery::health::Action::WebserviceAccount));
    delivery::onboard::record_test(connections.as_ref(), &mut c, &verdict, now)
        .await
        .unwrap();
    let stored = connections.get(&id).await.unwrap().unwrap();
    let onboarding = stored.onboarding.clone().unwrap();
    assert_eq!(onboarding.step(), Some(Onboarding::ClientIdReceived));
    assert_eq!(
        onboarding.refusal.as_ref().and_then(|r| r.action),
        Some(delivery::health::Action::WebserviceAccount)
    );
    assert!(!onboarding.refusal.unwrap().reason.contains("PRIVATE KEY"));
    assert_eq!(w.run(A).await.outcome, Outcome::Failed, "refused: still left alone");
    assert!(w.objects("").await.is_empty(), "nothing written");

    // The entity puts its account right: the next test connects, and a run delivers.
    w.sim.register(&format!("client-{A}"), A, &key.certificate_pem).unwrap();
    let verdict = delivery::probe::probe(secrets.as_ref(), Ok(&ebox), &c).await;
    assert!(verdict.works && verdict.refusal().is_none(), "{}", verdict.text);
    delivery::onboard::record_test(connections.as_ref(), &mut c, &verdict, now)
        .await
        .unwrap();
    assert!(connections.get(&id).await.unwrap().unwrap().is_connected());
    let report = w.run(A).await;
    assert_eq!((report.outcome, report.delivered), (Outcome::Ok, 3), "{report:#?}");
    let done = connections.get(&id).await.unwrap().unwrap().onboarding.unwrap();
    assert_eq!(done.step(), Some(Onboarding::FirstMessageDelivered));
    assert!(done.refusal.is_none());
    // Recorded once: a later delivery keeps the first date.
    w.sim.arrive(P1, A);
    assert_eq!(w.run(A).await.delivered, 1);
    let again = connections.get(&id).await.unwrap().unwrap().onboarding.unwrap();
    assert_eq!(again.first_message_delivered_at, done.first_message_delivered_at);
}
