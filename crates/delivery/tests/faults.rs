//! AWS faults ridden out: each fault kind on each write and read a run makes, injected by
//! the fault proxy between the AWS adapters and moto, with e-Box through the simulator.
//!
//! After each faulted run: every message is delivered, its ledger row points at its
//! `message.json`, each `message.json` was written once (counted in the proxy's log of
//! what moto took), nothing in a message folder was written after it, and the next run
//! is not locked out.

use std::collections::BTreeMap;
use std::sync::Arc;

use delivery::EntityId;
use delivery::fetch::*;
use delivery::ports::*;
use delivery::verdeelbak::keys;
use ebox_sim::data::Scenario;
use ebox_sim::{SimConfig, Simulator};
use testkit::backend::Backend;
use testkit::fault_proxy::{Fault, FaultProxy, Outcome as Answer, Rule};

const A: &str = "0403170701";
const PROVIDERS: [&str; 2] = ["ebox-enterprise", "vlaamse-overheid"];

/// The faults each call gets, two in a row: a burst the SDK (or, for a streamed upload,
/// the engine) rides out within the run.
const FAULTS: [Fault; 4] = [Fault::ServerError, Fault::Throttle, Fault::Reset, Fault::LostAnswer];

struct World {
    b: Backend,
    sim: Simulator,
    fetcher: Fetcher,
    _key: testkit::KeyMaterial,
}

async fn world() -> World {
    let b = Backend::moto_through_proxy().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let config = testkit::sim_ebox_config(&sim);
    let key = testkit::KeyMaterial::generate("digipost");
    let secret_id = b.secret_name(&format!("ebox/{A}"));
    testkit::backend::onboard(&sim, &b.secrets, b.connections.as_ref(), A, &secret_id, &key).await;
    sim.generate(&Scenario::of(3, A, 2, 1, 3_000));
    let fetcher = Fetcher {
        connections: b.connections.clone(),
        stores: b.stores.clone(),
        objects: b.objects.clone(),
        secrets: b.secrets.store(),
        events: b.events.clone(),
        ebox: Arc::new(ebox::Ebox::new(config).unwrap()),
        clock: Arc::new(SystemClock),
        settings: FetchSettings {
            concurrency: 4,
            // Short, so that a run of a few seconds renews it (every 1.5 s); long enough
            // that a burst of throttling, which slows renewals as well, leaves it valid.
            lease_duration: chrono::Duration::seconds(6),
            reconcile_interval: None,
            ..FetchSettings::default()
        },
    };
    World {
        b,
        sim,
        fetcher,
        _key: key,
    }
}

impl World {
    fn proxy(&self) -> &FaultProxy {
        self.b.proxy.as_ref().expect("a backend behind the proxy")
    }

    async fn run(&self) -> RunReport {
        let request = FetchRequest {
            entity_id: A.into(),
            ..FetchRequest::default()
        };
        self.fetcher.run(&request, None).await
    }

    /// Every message delivered, each `message.json` written once and nothing after it.
    async fn assert_delivered_once(&self, case: &str) {
        let entity = EntityId::parse(A).unwrap();
        let prefix = Connection::default_prefix(&entity);
        let mut objects = BTreeMap::new();
        for meta in self.b.objects.list(&prefix).await.unwrap() {
            let bytes = self.b.objects.get(&meta.key).await.unwrap().unwrap();
            objects.insert(meta.key, bytes.to_vec());
        }
        let log = self.proxy().log();
        for provider in PROVIDERS {
            for m in self.sim.messages(provider, A) {
                testkit::verdeelbak::assert_message_delivered(&objects, &prefix, provider, &m);
                let folder = keys::message_folder(&prefix, provider, &m.id);
                let json_key = keys::message_json_key(&folder);
                let entry = self.b.inspect.ledger_entry(&entity, provider, &m.id).await.unwrap();
                let entry = entry.unwrap_or_else(|| panic!("{case}: no ledger row for {json_key}"));
                assert_eq!(entry.message_key, json_key, "{case}");
                assert_eq!(entry.message_sha256, hex(sha256_of(&objects[&json_key])), "{case}");
                testkit::verdeelbak::assert_written_once_and_last(&log, &folder, case);
            }
        }
    }

    /// New mail (`opened`: already read in e-Box's web UI), a burst of `fault` on the
    /// calls `rule` picks, a run that rides it out, and a next run that is not locked out.
    async fn ride_out(&self, case: &str, rule: Rule, opened: bool) {
        self.ride_out_many(case, rule, opened, 1).await
    }

    /// The same, with `each` new messages from each provider.
    async fn ride_out_many(&self, case: &str, rule: Rule, opened: bool, each: u64) {
        for provider in PROVIDERS {
            for _ in 0..each {
                let id = self.sim.arrive(provider, A);
                if opened {
                    assert!(self.sim.update_message(provider, A, &id, |m, _| m.read = true));
                }
            }
        }
        let injected = self.proxy().injected();
        self.proxy().inject(rule);
        let report = self.run().await;
        self.proxy().clear();
        assert_eq!(report.outcome, Outcome::Ok, "{case}: {report:#?}");
        assert_eq!(report.delivered, 2 * each, "{case}: {report:#?}");
        assert_eq!(
            self.proxy().injected() - injected,
            2,
            "{case}: the faults were not all met"
        );
        let next = self.run().await;
        assert_eq!(
            next.outcome,
            Outcome::Ok,
            "{case}: the next run is locked out: {next:#?}"
        );
        assert_eq!(next.delivered, 0, "{case}");
        self.assert_delivered_once(case).await;
    }
}

/// Each fault kind, in turn, on the calls of one operation that contain `containing`.
async fn each_fault_on(operation: &str, containing: &str) {
    each_fault_on_mail(operation, containing, false).await
}

/// The same, on mail that `opened` says was read in the web UI before the run.
async fn each_fault_on_mail(operation: &str, containing: &str, opened: bool) {
    let w = world().await;
    let first = w.run().await;
    assert_eq!(first.outcome, Outcome::Ok, "{first:#?}");
    for fault in FAULTS {
        let case = format!("{} on {operation} {containing}", fault.name());
        let rule = Rule::on(operation).containing(containing).times(2).fault(fault);
        w.ride_out(&case, rule, opened).await;
    }
}

/// Each fault kind on the calls of one operation that contain `containing`, in runs that
/// deliver several messages from each provider, so that their ledger rows and retrieval
/// notes are written several to a transaction.
async fn each_fault_on_several(operation: &str, containing: &str) {
    let w = world().await;
    let first = w.run().await;
    assert_eq!(first.outcome, Outcome::Ok, "{first:#?}");
    let several = |log: &[testkit::fault_proxy::Exchange], operation: &str| {
        log.iter().filter(|e| e.operation == operation && e.items > 1).count()
    };
    for fault in FAULTS {
        let case = format!("{} on {operation} {containing}, several messages a run", fault.name());
        let seen = w.proxy().log().len();
        let rule = Rule::on(operation).containing(containing).times(2).fault(fault);
        w.ride_out_many(&case, rule, false, 3).await;
        // Without a transaction of several rows or notes, the case tests nothing new. The
        // events of the rows written together go in one call.
        let log = &w.proxy().log()[seen..];
        assert!(
            several(log, "dynamodb:TransactWriteItems") > 0,
            "{case}: no transaction of several"
        );
        assert!(
            several(log, "events:PutEvents") > 0,
            "{case}: no publish of several events"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_rows_written_together() {
    each_fault_on_several("dynamodb:TransactWriteItems", "MSG#").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrieval_notes_written_together() {
    each_fault_on_several("dynamodb:TransactWriteItems", "RETRIEVAL#").await
}

macro_rules! calls {
    ($($name:ident: $operation:literal, $containing:literal;)*) => {
        $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
           async fn $name() { each_fault_on($operation, $containing).await } )*
    };
}

// Reads.
calls! {
    connection_read: "dynamodb:GetItem", "entity_id";
    state_snapshot: "dynamodb:Query", "";
    secret_read: "secretsmanager:GetSecretValue", "";
    ledger_read: "dynamodb:BatchGetItem", "";
}

/// A message's first attempt needs no look for its `message.json` (no earlier attempt can
/// have left one); a message read before the run, whose retrieval is not noted, is looked
/// for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_json_check() {
    each_fault_on_mail("s3:GetObject", "message.json", true).await
}

// Writes.
calls! {
    lease_take: "dynamodb:PutItem", "\"LEASE\"";
    attachment_upload: "s3:PutObject", "/attachments/";
    body_upload: "s3:PutObject", "body.json";
    message_json_write: "s3:PutObject", "message.json";
    ledger_row: "dynamodb:PutItem", "MSG#";
    cursor_write: "dynamodb:TransactWriteItems", "CURSOR#";
    status_write: "dynamodb:TransactWriteItems", "LAST_RUN";
    lease_release: "dynamodb:DeleteItem", "";
}

/// Renewals of the lease, while e-Box is slow enough that a run outlasts a beat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_renewal() {
    let w = world().await;
    assert_eq!(w.run().await.outcome, Outcome::Ok);
    for fault in FAULTS {
        let case = format!("{} on a renewal", fault.name());
        w.sim.add_fault(
            serde_json::from_value(
                serde_json::json!({"route": "content", "kind": {"type": "latency", "ms": 2000}, "times": 2}),
            )
            .unwrap(),
        );
        // The first lease write of the run is its take; the renewals follow.
        let rule = Rule::on("dynamodb:PutItem")
            .containing("\"LEASE\"")
            .after(1)
            .times(2)
            .fault(fault);
        w.ride_out(&case, rule, false).await;
    }
}

/// The burst of the field report: more throttled answers in a row on a ledger read than
/// the SDK's old four attempts could take.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_throttling_on_the_ledger() {
    let w = world().await;
    assert_eq!(w.run().await.outcome, Outcome::Ok);
    for provider in PROVIDERS {
        w.sim.arrive(provider, A);
    }
    w.proxy()
        .inject(Rule::on("dynamodb:BatchGetItem").times(5).fault(Fault::Throttle));
    let report = w.run().await;
    assert_eq!(report.outcome, Outcome::Ok, "{report:#?}");
    assert_eq!(report.delivered, 2);
    assert_eq!(w.proxy().injected(), 5);
    w.assert_delivered_once("a burst of throttling").await;
}

/// A fault that outlasts every retry fails its message only, says where and why, and
/// the next run delivers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_stays_down_fails_the_message_and_the_next_run_delivers_it() {
    let w = world().await;
    assert_eq!(w.run().await.outcome, Outcome::Ok);
    w.sim.arrive(PROVIDERS[0], A);
    w.proxy().inject(
        Rule::on("s3:PutObject")
            .containing("/attachments/")
            .times(100)
            .fault(Fault::ServerError),
    );
    let report = w.run().await;
    w.proxy().clear();
    assert_eq!(report.outcome, Outcome::Partial, "{report:#?}");
    let failed = &report.providers.iter().find(|p| !p.failed.is_empty()).unwrap().failed[0];
    assert_eq!(failed.step, Step::Store);
    assert!(failed.retryable, "{failed:?}");
    assert!(failed.reason.contains("InternalError"), "{failed:?}");
    let next = w.run().await;
    assert_eq!(next.outcome, Outcome::Ok, "{next:#?}");
    assert_eq!(next.delivered, 1);
    w.assert_delivered_once("a store down for a run").await;
    // Nothing was taken while it was down: each attempt was refused.
    assert!(
        w.proxy()
            .log()
            .iter()
            .filter(|e| e.outcome == Answer::Injected("ServerError".into()))
            .all(|e| e.status.is_none())
    );
}

/// The raw copy of a list item that is not a readable message: kept once whatever the
/// store does to the write, and reported with its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeping_an_unreadable_item() {
    let w = world().await;
    assert_eq!(w.run().await.outcome, Outcome::Ok);
    for (n, fault) in FAULTS.into_iter().enumerate() {
        let case = format!("{} on keeping an unreadable item", fault.name());
        // An item of its own for each fault: one kept is not written again.
        let raw = serde_json::json!({"subject": format!("no id, {n}")});
        let received = w.sim.now() - chrono::Duration::minutes(30);
        w.sim.add_raw_item(PROVIDERS[0], A, raw, received);
        let injected = w.proxy().injected();
        w.proxy().inject(
            Rule::on("s3:PutObject")
                .containing("/_unreadable/")
                .times(2)
                .fault(fault),
        );
        let report = w.run().await;
        w.proxy().clear();
        assert_eq!(
            w.proxy().injected() - injected,
            2,
            "{case}: the faults were not all met"
        );
        let provider = report.providers.iter().find(|p| p.provider_id == PROVIDERS[0]);
        let kept = &provider.expect("the provider's report").unreadable;
        let item = kept.last().unwrap_or_else(|| panic!("{case}: {report:#?}"));
        assert_eq!(item.error, None, "{case}");
        let key = item.key.clone().unwrap_or_else(|| panic!("{case}: not kept"));
        let taken = w
            .proxy()
            .log()
            .iter()
            .filter(|e| e.operation == "s3:PutObject" && e.target.ends_with(&key))
            .filter(|e| e.status.is_some_and(|s| (200..300).contains(&s)))
            .count();
        assert_eq!(taken, 1, "{case}: {key} written {taken} times");
        let next = w.run().await;
        assert_ne!(
            next.outcome,
            Outcome::AlreadyRunning,
            "{case}: the next run is locked out"
        );
    }
}

/// New unread mail is delivered without a look for its `message.json`: each message's
/// first attempt notes its retrieval first, so none can have been left before it. Mail
/// read before the run is looked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_attempt_does_not_look_for_its_message_json() {
    let w = world().await;
    assert_eq!(w.run().await.outcome, Outcome::Ok);
    let looks = |w: &World| {
        let log = w.proxy().log();
        log.iter()
            .filter(|e| e.operation == "s3:GetObject" && e.target.ends_with("message.json"))
            .count()
    };
    let before = looks(&w);
    for provider in PROVIDERS {
        w.sim.arrive(provider, A);
    }
    assert_eq!(w.run().await.delivered, 2);
    assert_eq!(looks(&w) - before, 0, "unread mail: no look");
    for provider in PROVIDERS {
        let id = w.sim.arrive(provider, A);
        assert!(w.sim.update_message(provider, A, &id, |m, _| m.read = true));
    }
    assert_eq!(w.run().await.delivered, 2);
    assert_eq!(looks(&w) - before, 2, "mail read before the run: one look each");
}
