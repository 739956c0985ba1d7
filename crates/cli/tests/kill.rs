//! Crashes of the real process: `digipost-ebox run` killed with SIGKILL at random moments,
//! talking to moto through the fault proxy (which logs, in order, every request moto
//! took) and to e-Box through the simulator.
//!
//! The moments are random and printed with their seed, so a failure can be replayed with
//! `KILL_SEED=<seed>`.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use delivery::EntityId;
use delivery::aws::{AwsClients, DynamoConnections, DynamoState, S3Objects};
use delivery::config::StorageNames;
use delivery::fetch::{Outcome, RunReport};
use delivery::ports::*;
use delivery::verdeelbak::keys;
use ebox_sim::data::Scenario;
use ebox_sim::{SimConfig, Simulator};
use testkit::backend::Secrets;
use testkit::fault_proxy::FaultProxy;
use testkit::{KeyMaterial, MotoServer};

const A: &str = "0403170701";
const PROVIDERS: [&str; 2] = ["ebox-enterprise", "vlaamse-overheid"];

struct Rig {
    _moto: MotoServer,
    proxy: FaultProxy,
    sim: Simulator,
    names: StorageNames,
    /// Straight to moto, past the proxy: what the checks read.
    clients: AwsClients,
    state: DynamoState,
    lease_seconds: u64,
    _key: KeyMaterial,
}

impl Rig {
    async fn start(messages_per_provider: usize, lease_seconds: u64) -> Self {
        let moto = MotoServer::start();
        let clients = moto.clients().await;
        let names = moto.fresh_storage(&clients).await;
        let proxy = FaultProxy::start(&moto.url);
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        let key = KeyMaterial::generate("digipost");
        let connections = DynamoConnections::new(clients.dynamodb.clone(), &names.connections_table);
        let secret_id = format!("{}/ebox/{A}", testkit::unique_name("kill"));
        let secrets = Secrets::Moto(clients.clone());
        testkit::backend::onboard(&sim, &secrets, &connections, A, &secret_id, &key).await;
        sim.generate(&Scenario::of(5, A, messages_per_provider, 1, 2_000));
        let state = DynamoState::new(clients.dynamodb.clone(), &names.state_table);
        Self {
            _moto: moto,
            proxy,
            sim,
            names,
            clients,
            state,
            lease_seconds,
            _key: key,
        }
    }

    /// `digipost-ebox run` for the entity, through the proxy.
    fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_digipost-ebox"));
        cmd.args(["run", "--entity", A, "--json"])
            .envs(testkit::process_env(&self.proxy.url(), &self.names, &self.sim))
            .env_remove("AWS_PROFILE")
            .env("LEASE_SECONDS", self.lease_seconds.to_string())
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// A whole run; its report.
    async fn run(&self) -> RunReport {
        let out = self.command().stdout(Stdio::piped()).output().await.unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("no report ({e}): {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// A run killed with SIGKILL once moto has been asked `requests` more requests; when
    /// it ended by itself first, how many requests it made.
    async fn run_killed_after(&self, requests: usize) -> Result<(), usize> {
        let base = self.proxy.log().len();
        let mut child = self.command().stdout(Stdio::null()).spawn().unwrap();
        let reached = self
            .proxy
            .wait_for_async(|log| log.len() >= base + requests, Duration::from_secs(120));
        tokio::select! {
            _ = child.wait() => Err(self.proxy.log().len() - base),
            true = reached => {
                child.start_kill().unwrap();
                let status = child.wait().await.unwrap();
                // Killed, or it had just ended by itself.
                match std::os::unix::process::ExitStatusExt::signal(&status) {
                    Some(9) => Ok(()),
                    _ => Err(self.proxy.log().len() - base),
                }
            }
        }
    }

    /// Waits, by polling the lease, until no run holds the entity.
    async fn until_free(&self) {
        let entity = EntityId::parse(A).unwrap();
        let limit = Instant::now() + Duration::from_secs(self.lease_seconds + 30);
        loop {
            let lease = self.state.snapshot(&entity).await.unwrap().lease;
            if lease.as_ref().is_none_or(|l| l.until <= chrono::Utc::now()) {
                return;
            }
            assert!(Instant::now() < limit, "the lease was never let go: {lease:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs until one finds nothing to do.
    async fn until_quiet(&self) -> Vec<RunReport> {
        let mut runs = Vec::new();
        for _ in 0..20 {
            self.until_free().await;
            let report = self.run().await;
            let quiet = report.outcome == Outcome::Ok && report.delivered == 0;
            runs.push(report);
            if quiet {
                return runs;
            }
        }
        panic!("no quiet run in 20: {:#?}", runs.last());
    }

    /// Every message delivered, with its ledger row; each `message.json` one object
    /// version, written once and last in its folder.
    async fn assert_all_delivered_once(&self) -> usize {
        let entity = EntityId::parse(A).unwrap();
        let prefix = Connection::default_prefix(&entity);
        let objects = S3Objects::new(&self.clients, &self.names.verdeelbak_bucket);
        let mut stored = BTreeMap::new();
        for meta in objects.list(&prefix).await.unwrap() {
            let bytes = objects.get(&meta.key).await.unwrap().unwrap();
            stored.insert(meta.key, bytes.to_vec());
        }
        let versions = self.message_json_versions(&prefix).await;
        let log = self.proxy.log();
        let mut messages = 0;
        for provider in PROVIDERS {
            for m in self.sim.messages(provider, A) {
                testkit::verdeelbak::assert_message_delivered(&stored, &prefix, provider, &m);
                let folder = keys::message_folder(&prefix, provider, &m.id);
                let json_key = keys::message_json_key(&folder);
                assert_eq!(versions.get(&json_key), Some(&1), "{json_key}: one version");
                let entry = self.state.ledger_entry(&entity, provider, &m.id).await.unwrap();
                let entry = entry.unwrap_or_else(|| panic!("no ledger row for {json_key}"));
                assert_eq!(entry.message_sha256, hex(sha256_of(&stored[&json_key])));
                testkit::verdeelbak::assert_written_once_and_last(&log, &folder, "kill soak");
                messages += 1;
            }
        }
        messages
    }

    /// How many versions each `message.json` under `prefix` has (the bucket keeps them).
    async fn message_json_versions(&self, prefix: &str) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .clients
                .s3
                .list_object_versions()
                .bucket(&self.names.verdeelbak_bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .unwrap();
            for v in page.versions() {
                let key = v.key().unwrap_or_default();
                if key.ends_with("/message.json") {
                    *counts.entry(key.to_owned()).or_default() += 1;
                }
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
        }
        counts
    }
}

fn seed() -> u64 {
    let seed = std::env::var("KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("KILL_SEED={seed}");
    seed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_sigkills_at_random_moments_lose_nothing_and_write_nothing_twice() {
    // A backlog of 300 messages (the scenario's count is over both providers).
    let rig = Rig::start(300, 2).await;
    let mut rng = fastrand::Rng::with_seed(seed());
    let (mut kills, mut runs, mut span) = (0, 0, 200);
    while kills < 20 {
        assert!(runs < 100, "{kills} kills in {runs} runs");
        // Mail keeps arriving, so that every run has work to be killed in.
        for provider in PROVIDERS {
            rig.sim.arrive(provider, A);
        }
        rig.until_free().await;
        runs += 1;
        // From its first requests (the connection, the lease) deep into its deliveries:
        // within as many requests as the last run that ended by itself made, as a run's
        // length follows its mail and the requests a message takes.
        match rig.run_killed_after(rng.usize(1..=span)).await {
            Ok(()) => kills += 1,
            Err(made) => span = made.max(1),
        }
    }
    let quiet = rig.until_quiet().await;
    let messages = rig.assert_all_delivered_once().await;
    assert!(messages >= 300, "{messages} messages");
    println!(
        "{kills} kills in {runs} runs, then {} runs until quiet, {messages} messages",
        quiet.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_sigkill_the_next_run_delivers_within_the_lease_and_a_few_seconds() {
    let lease = 4;
    let rig = Rig::start(40, lease).await;
    let base = rig.proxy.log().len();
    let mut child = rig.command().stdout(Stdio::null()).spawn().unwrap();
    // Killed mid-delivery: once it has stored something, so it holds the lease.
    let storing = rig.proxy.wait_for_async(
        |log| log[base..].iter().any(|e| e.operation == "s3:PutObject"),
        Duration::from_secs(60),
    );
    assert!(storing.await, "the run never stored anything");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let killed = Instant::now();
    let blocked = rig.run().await;
    assert_eq!(blocked.outcome, Outcome::AlreadyRunning, "{blocked:#?}");
    // Runs one after another, as fast as they go: the first that is not blocked delivers.
    // Blocked is how long after the kill the run that was let in started; how long it
    // then takes to deliver is the benchmarks' business.
    let (report, waited) = loop {
        let started = killed.elapsed();
        let report = rig.run().await;
        if report.outcome != Outcome::AlreadyRunning {
            break (report, started);
        }
        assert!(killed.elapsed() < Duration::from_secs(lease + 30), "still blocked");
    };
    assert_eq!(report.outcome, Outcome::Ok, "{report:#?}");
    assert!(report.delivered > 0, "{report:#?}");
    assert!(
        waited <= Duration::from_secs(lease + 3),
        "blocked for {waited:?} after a kill, with a lease of {lease} s"
    );
    rig.assert_all_delivered_once().await;
}
