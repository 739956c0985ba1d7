//! The operator CLI as an operator runs it: a process, against moto and the e-Box simulator.

use std::path::PathBuf;
use std::process::Output;

use assert_cmd::Command;
use delivery::config::StorageNames;
use ebox_sim::data::{CONSULT_SCOPE, REGISTRY_SCOPE, Scenario};
use ebox_sim::{SimConfig, Simulator};
use serde_json::{Value, json};
use testkit::{KeyMaterial, MotoServer};

const A: &str = "0403170701";

struct Setup {
    moto: MotoServer,
    sim: Simulator,
    names: StorageNames,
    dir: PathBuf,
    /// The CLI names connection secrets `<prefix>connections/<entity>/<made>`: a prefix of this
    /// test's own, as tests may share one moto.
    secrets_prefix: String,
}

impl Setup {
    async fn start() -> Self {
        let moto = MotoServer::start();
        let clients = moto.clients().await;
        let names = moto.fresh_storage(&clients).await;
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        let dir = std::env::temp_dir().join(testkit::unique_name("cli"));
        std::fs::create_dir_all(&dir).unwrap();
        let secrets_prefix = format!("{}/", testkit::unique_name("cli"));
        Self {
            moto,
            sim,
            names,
            dir,
            secrets_prefix,
        }
    }

    /// Runs the CLI in a blocking thread, so the simulator keeps serving meanwhile.
    async fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = Command::cargo_bin("digipost-ebox").unwrap();
        cmd.args(args)
            .envs(testkit::process_env(&self.moto.url, &self.names, &self.sim))
            .env_remove("AWS_PROFILE")
            .env("EBOX_SCOPES", format!("{CONSULT_SCOPE} {REGISTRY_SCOPE}"))
            .env("SECRETS_PREFIX", &self.secrets_prefix);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    fn file(&self, name: &str, content: &[u8]) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }

    /// `connections add` for `entity` with these credentials arguments.
    async fn add(&self, entity: &str, client_id: &str, credentials: &[&str]) -> Output {
        let args = [
            "connections",
            "add",
            "--entity",
            entity,
            "--name",
            "IV",
            "--client-id",
            client_id,
        ];
        self.cli(&[&args[..], credentials].concat()).await
    }

    /// `connections add` for `entity` with its key and certificate in PEM files.
    async fn add_with_pem(&self, entity: &str, client_id: &str, key: &KeyMaterial) -> Output {
        let (k, c) = (
            self.file(&format!("{entity}-key.pem"), key.private_key_pem.as_bytes()),
            self.file(&format!("{entity}-cert.pem"), key.certificate_pem.as_bytes()),
        );
        self.add(entity, client_id, &["--key", &k, "--cert", &c]).await
    }

    /// The id of the entity's own secret, as its connection names it.
    async fn secret_of(&self, entity: &str) -> String {
        let out = self.cli(&["connections", "show", "--entity", entity, "--json"]).await;
        let show: Value = serde_json::from_slice(&out.stdout).unwrap();
        show["connection"]["credentials"]["secret_id"]
            .as_str()
            .expect("a secret of its own")
            .to_owned()
    }

    fn register(&self, client_id: &str, entity: &str, key: &KeyMaterial) {
        self.sim.register(client_id, entity, &key.certificate_pem).unwrap();
        self.sim.generate(&Scenario::of(4, entity, 6, 1, 5_000));
    }
}

/// A PKCS#12 file made here, as an export from a certificate store would be.
fn pkcs12(key: &KeyMaterial, password: &str) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    let key_der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(key.private_key_pem.as_bytes()).unwrap();
    let cert_der = rustls_pki_types::CertificateDer::from_pem_slice(key.certificate_pem.as_bytes()).unwrap();
    let chain = p12_keystore::PrivateKeyChain::new(
        vec![1u8; 20],
        p12_keystore::PrivateKey::from_der(key_der.secret_pkcs8_der()).unwrap(),
        [p12_keystore::Certificate::from_der(cert_der.as_ref()).unwrap()],
    );
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry("digipost", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
    store.writer(password).write().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn all(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_from_pem_through_its_whole_life() {
    let s = Setup::start().await;
    let key = KeyMaterial::generate("digipost");
    s.register("client-a", A, &key);
    let (k, c) = (
        s.file("key.pem", key.private_key_pem.as_bytes()),
        s.file("cert.pem", key.certificate_pem.as_bytes()),
    );

    let out = s
        .cli(&[
            "connections",
            "add",
            "--entity",
            "0403.170.701",
            "--name",
            "Informatie Vlaanderen",
            "--client-id",
            "client-a",
            "--key",
            &k,
            "--cert",
            &c,
        ])
        .await;
    assert!(out.status.success(), "{}", all(&out));
    let text = stdout(&out);
    assert!(text.contains("the connection of 0403170701 works"), "{text}");
    assert!(text.contains("6 message(s)") || text.contains("3 message(s)"), "{text}");

    let out = s.cli(&["connections", "list", "--json"]).await;
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["entity_id"], A);
    assert_eq!(list[0]["enabled"], true);
    let secret = list[0]["credentials"]["secret_id"].as_str().unwrap();
    assert!(
        secret.starts_with(&format!("{}connections/0403170701/", s.secrets_prefix)),
        "{secret}"
    );

    let out = s.cli(&["run", "--entity", A, "--json"]).await;
    assert!(out.status.success(), "{}", all(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outcome"], "ok");
    assert_eq!(report["delivered"], 6);

    // New mail; a dry run lists what it would write and writes nothing.
    s.sim.arrive("ebox-enterprise", A);
    let out = s.cli(&["run", "--entity", A, "--dry-run"]).await;
    let text = stdout(&out);
    assert_eq!(
        text.matches("would write").count(),
        3,
        "one attachment, the body it may have, and message.json: {text}"
    );
    let status = s.cli(&["status", "--json"]).await;
    let rows: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(rows[0]["delivered"], 6, "the dry run left the last real run's numbers");
    assert_eq!(rows[0]["outcome"], "ok");
    assert!(rows[0]["certificate_days_to_expiry"].as_i64().unwrap() > 1000);
    assert!(rows[0]["cursor"].is_string());
    assert_eq!(rows[0]["health"], "ok");

    let out = s.cli(&["run", "--entity", A]).await;
    assert!(stdout(&out).contains("ok (1 delivered"), "{}", all(&out));

    // The entity's webservice account is removed: the connection needs action, and
    // `status` says what to do; once the account is back, the next run is ok.
    assert!(s.sim.revoke_client("client-a"));
    let out = s.cli(&["run", "--entity", A]).await;
    assert_eq!(out.status.code(), Some(1), "{}", all(&out));
    let needs: Value = serde_json::from_slice(&s.cli(&["status", "--needs-action", "--json"]).await.stdout).unwrap();
    assert_eq!(needs[0]["entity_id"], A, "{needs}");
    assert_eq!(needs[0]["health"], "needs_action");
    assert_eq!(needs[0]["action_by"], "entity");
    assert!(needs[0]["instruction"].as_str().unwrap().contains("ChaMan"), "{needs}");
    let table = stdout(&s.cli(&["status"]).await);
    assert!(
        table.contains("needs_action") && table.contains("needs action by entity"),
        "{table}"
    );
    s.sim
        .register("client-a", A, &std::fs::read_to_string(&c).unwrap())
        .unwrap();
    let out = s.cli(&["run", "--entity", A, "--json"]).await;
    assert!(out.status.success(), "{}", all(&out));
    let needs: Value = serde_json::from_slice(&s.cli(&["status", "--needs-action", "--json"]).await.stdout).unwrap();
    assert_eq!(needs, json!([]));
    let table = stdout(&s.cli(&["status"]).await);
    assert!(
        table.contains("0403170701") && table.contains("Informatie Vlaanderen"),
        "{table}"
    );
    let list = stdout(&s.cli(&["connections", "list"]).await);
    let header = list.lines().next().unwrap_or_default();
    assert!(
        header.contains("entity") && header.contains("credentials") && list.contains("0403170701"),
        "{list}"
    );

    assert!(s.cli(&["connections", "disable", "--entity", A]).await.status.success());
    let out = s.cli(&["run", "--entity", A]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("disabled"), "{}", all(&out));
    assert!(s.cli(&["connections", "enable", "--entity", A]).await.status.success());
    let show: Value =
        serde_json::from_slice(&s.cli(&["connections", "show", "--entity", A, "--json"]).await.stdout).unwrap();
    assert_eq!(show["connection"]["enabled"], true);
    // A refused run writes nothing: the last run shown is still the last real one.
    assert_eq!(show["last_run"]["outcome"], "ok");

    let out = s.cli(&["connections", "remove", "--entity", A]).await;
    assert!(stdout(&out).contains("scheduled for deletion"), "{}", all(&out));
    let list: Value = serde_json::from_slice(&s.cli(&["connections", "list", "--json"]).await.stdout).unwrap();
    assert_eq!(list, Value::Array(vec![]));
    let out = s.cli(&["connections", "test", "--entity", A]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(all(&out).contains("no connection"), "{}", all(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_from_pkcs12_and_one_sharing_a_certificate() {
    let s = Setup::start().await;
    let key = KeyMaterial::generate("digipost");
    s.register("client-a", A, &key);
    let p12 = pkcs12(&key, "s3cret");
    let (p12_path, password) = (s.file("digipost.p12", &p12), s.file("password", b"s3cret\n"));
    let out = s
        .cli(&[
            "connections",
            "add",
            "--entity",
            A,
            "--name",
            "A",
            "--client-id",
            "client-a",
            "--p12",
            &p12_path,
            "--password-file",
            &password,
        ])
        .await;
    assert!(out.status.success(), "{}", all(&out));
    assert!(stdout(&out).contains("works"), "{}", all(&out));

    // Another entity uses the same (shared) certificate secret with its own ClientID.
    let b = "0123456749";
    s.register("client-b", b, &key);
    let out = s
        .cli(&[
            "connections",
            "add",
            "--entity",
            b,
            "--name",
            "B",
            "--client-id",
            "client-b",
            "--shared-certificate",
            &s.secret_of(A).await,
        ])
        .await;
    assert!(out.status.success(), "{}", all(&out));
    assert!(
        stdout(&out).contains("the connection of 0123456749 works"),
        "{}",
        all(&out)
    );
    let list: Value = serde_json::from_slice(&s.cli(&["connections", "list", "--json"]).await.stdout).unwrap();
    let shared = list.as_array().unwrap().iter().find(|c| c["entity_id"] == b).unwrap();
    assert_eq!(shared["credentials"]["kind"], "shared_certificate");
    assert_eq!(shared["credentials"]["client_id"], "client-b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_cannot_work_are_explained() {
    let s = Setup::start().await;
    let key = KeyMaterial::generate("digipost");
    s.register("client-a", A, &key);
    let (k, c) = (
        s.file("key.pem", key.private_key_pem.as_bytes()),
        s.file("cert.pem", key.certificate_pem.as_bytes()),
    );

    // A ClientID e-Box does not know: stored, tested, reported as not working, with why.
    let out = s
        .cli(&[
            "connections",
            "add",
            "--entity",
            A,
            "--name",
            "A",
            "--client-id",
            "typo-client",
            "--key",
            &k,
            "--cert",
            &c,
        ])
        .await;
    assert_eq!(out.status.code(), Some(1), "{}", all(&out));
    let text = stdout(&out);
    assert!(text.contains("does NOT work: step token"), "{text}");
    assert!(text.contains("invalid_client"), "{text}");
    // The step the connection's health names for the same refusal.
    assert!(text.contains("next: e-Box refuses the client"), "{text}");
    assert!(
        !text.contains(key.private_key_pem.lines().nth(1).unwrap()),
        "no key material in the output"
    );

    // A key that does not belong to the certificate is refused before anything is stored.
    let other = KeyMaterial::generate("other");
    let wrong = s.file("wrong.pem", other.private_key_pem.as_bytes());
    let b = "0123456749";
    let out = s
        .cli(&[
            "connections",
            "add",
            "--entity",
            b,
            "--name",
            "B",
            "--client-id",
            "client-b",
            "--key",
            &wrong,
            "--cert",
            &c,
        ])
        .await;
    assert_eq!(out.status.code(), Some(2));
    let text = all(&out);
    assert!(
        text.contains("entity 0123456749: step key material") && text.contains("does not belong to the certificate"),
        "{text}"
    );
    let list: Value = serde_json::from_slice(&s.cli(&["connections", "list", "--json"]).await.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "only the first connection exists");

    let out = s
        .cli(&[
            "connections",
            "add",
            "--entity",
            "0403170702",
            "--name",
            "X",
            "--client-id",
            "x",
            "--key",
            &k,
            "--cert",
            &c,
        ])
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(all(&out).contains("not a valid enterprise number"), "{}", all(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_replayed_from_the_ledger_with_their_own_ids() {
    let s = Setup::start().await;
    let tap = testkit::events::EventTap::on_moto(&s.moto, &s.names.event_bus).await;
    let key = KeyMaterial::generate("digipost");
    s.register("client-a", A, &key);
    let out = s.add_with_pem(A, "client-a", &key).await;
    assert!(out.status.success(), "{}", all(&out));
    let out = s.cli(&["run", "--entity", A, "--json"]).await;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["delivered"].as_u64(), report["events"]["published"].as_u64()),
        (Some(6), Some(6))
    );
    let ids = |events: &[Value]| {
        let mut ids: Vec<String> = events
            .iter()
            .map(|e| e["detail"]["event_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let delivered = tap.received(6, std::time::Duration::from_secs(20)).await;
    assert_eq!(delivered.len(), 6);

    let out = s.cli(&["events", "replay", "--entity", "0403.170.701", "--json"]).await;
    assert!(out.status.success(), "{}", all(&out));
    let replay: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (replay["rows"].as_u64(), replay["published"].as_u64()),
        (Some(6), Some(6)),
        "{replay}"
    );
    let all_events = tap.received(12, std::time::Duration::from_secs(20)).await;
    assert_eq!(ids(&all_events[6..]), ids(&delivered), "the same events, the same ids");

    // Nothing was delivered after tomorrow; a bad entity number is refused clearly.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .date_naive()
        .to_string();
    let out = s.cli(&["events", "replay", "--entity", A, "--since", &tomorrow]).await;
    assert!(stdout(&out).contains("0 of 0 event(s)"), "{}", all(&out));
    let out = s.cli(&["events", "replay", "--entity", "0403170702"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(all(&out).contains("not a valid enterprise number"), "{}", all(&out));
}

/// A certificate rotation across three entities sharing one key secret: a new key and
/// request, the signed certificate staged as the next pair, some entities accepting only
/// the next certificate and one only the current, all delivering; `status` names the one
/// still on the current certificate, promotion waits for it, then switches them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_rotation_as_a_campaign() {
    let s = Setup::start().await;
    let current = KeyMaterial::generate("digipost");
    let (b, c) = ("0123456749", "1000000021");
    for (client, entity) in [("client-a", A), ("client-b", b), ("client-c", c)] {
        s.register(client, entity, &current);
    }
    let out = s.add_with_pem(A, "client-a", &current).await;
    assert!(out.status.success(), "{}", all(&out));
    let secret = s.secret_of(A).await;
    for (entity, client) in [(b, "client-b"), (c, "client-c")] {
        let out = s.add(entity, client, &["--shared-certificate", &secret]).await;
        assert!(out.status.success(), "{}", all(&out));
    }

    // A new key and its signing request; the key readable by its owner only.
    let dir = s.dir.join("next");
    let out = s
        .cli(&[
            "certificate",
            "new",
            "--common-name",
            "DigiPost e-Box",
            "--out",
            dir.to_str().unwrap(),
        ])
        .await;
    assert!(out.status.success(), "{}", all(&out));
    let csr = std::fs::read_to_string(dir.join("request.csr")).unwrap();
    assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"), "{csr}");
    let key_pem = std::fs::read_to_string(dir.join("key.pem")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("key.pem")).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
    let again = s
        .cli(&[
            "certificate",
            "new",
            "--common-name",
            "x",
            "--out",
            dir.to_str().unwrap(),
        ])
        .await;
    assert_eq!(again.status.code(), Some(2), "a key is never overwritten");
    // Signed (here by itself, as a test CA would).
    let signing = rcgen::KeyPair::from_pem(&key_pem).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["DigiPost e-Box".into()]).unwrap();
    params.not_after = rcgen::date_time_ymd(2041, 1, 1);
    let next_cert = params.self_signed(&signing).unwrap().pem();
    let next_cert_path = s.file("next.pem", next_cert.as_bytes());
    let key_path = dir.join("key.pem").display().to_string();

    // Staging refuses key material that cannot work, and stores the next pair.
    let other = KeyMaterial::generate("other");
    let wrong_key = s.file("wrong.pem", other.private_key_pem.as_bytes());
    let s = &s;
    let stage = |key: String| {
        let secret = secret.clone();
        let cert = next_cert_path.clone();
        async move {
            s.cli(&[
                "certificate",
                "stage",
                "--secret",
                &secret,
                "--key",
                &key,
                "--cert",
                &cert,
            ])
            .await
        }
    };
    let out = stage(wrong_key).await;
    assert_eq!(out.status.code(), Some(2), "{}", all(&out));
    assert!(
        all(&out).contains("does not belong to the certificate"),
        "{}",
        all(&out)
    );
    let out = stage(key_path).await;
    assert!(out.status.success(), "{}", all(&out));

    // A and C have uploaded the new certificate (their accounts hold only it); B not yet.
    s.sim.register("client-a", A, &next_cert).unwrap();
    s.sim.register("client-c", c, &next_cert).unwrap();
    // `connections test` tries the pairs as a run does.
    let probe = stdout(&s.cli(&["connections", "test", "--entity", c]).await);
    assert!(
        probe.contains("works: token obtained with the next certificate"),
        "{probe}"
    );
    let probe = stdout(&s.cli(&["connections", "test", "--entity", b]).await);
    assert!(
        probe.contains("works: token obtained with the current certificate"),
        "{probe}"
    );
    for entity in [A, b, c] {
        let out = s.cli(&["run", "--entity", entity]).await;
        assert!(out.status.success(), "{entity}: {}", all(&out));
    }
    let status = |out: Output| -> Vec<Value> { serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap() };
    let rows = status(s.cli(&["certificate", "status", "--json"]).await);
    let on = |rows: &[Value], entity: &str| rows.iter().find(|r| r["entity_id"] == entity).unwrap()["on"].clone();
    assert_eq!(
        (on(&rows, A), on(&rows, b), on(&rows, c)),
        (json!("next"), json!("current"), json!("next")),
        "{rows:#?}"
    );
    assert_eq!(rows[0]["entity_id"], b, "the one still to move leads");
    assert!(rows[0]["current_days_left"].as_i64().unwrap() > 1000);
    let table = stdout(&s.cli(&["certificate", "status"]).await);
    assert!(
        table.contains("current (not moved)") && table.contains("2 of 3 connections"),
        "{table}"
    );

    // Promotion waits for B, and says so.
    let out = s.cli(&["certificate", "promote", "--secret", &secret]).await;
    assert_eq!(out.status.code(), Some(2), "{}", all(&out));
    assert!(all(&out).contains(b), "{}", all(&out));
    s.sim.register("client-b", b, &next_cert).unwrap();
    assert!(s.cli(&["run", "--entity", b]).await.status.success());
    let out = s.cli(&["certificate", "promote", "--secret", &secret]).await;
    assert!(out.status.success(), "{}", all(&out));
    // The next pair is the current one now: every entity on it, no rotation left.
    s.sim.arrive("ebox-enterprise", A);
    for entity in [A, b, c] {
        let out = s.cli(&["run", "--entity", entity, "--json"]).await;
        assert!(out.status.success(), "{entity}: {}", all(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["certificate_pair"], "current", "{report:#}");
    }
    let rows = status(s.cli(&["certificate", "status", "--json"]).await);
    assert!(
        rows.iter().all(|r| r["rotating"] == false && r["on"] == "current"),
        "{rows:#?}"
    );
    let thumbprint = ebox::KeyMaterial::from_pem(&key_pem, &next_cert)
        .unwrap()
        .certificate()
        .sha256_thumbprint
        .clone();
    let show: Value =
        serde_json::from_slice(&s.cli(&["connections", "show", "--entity", A, "--json"]).await.stdout).unwrap();
    assert_eq!(show["last_run"]["certificate_thumbprint"], thumbprint.as_str());
}

/// What the admin side refuses, each with what to do, and with nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_key_material_and_a_second_connection_are_refused_with_nothing_stored() {
    let s = Setup::start().await;
    let expired = KeyMaterial::generate_valid_until("digipost", (2024, 1, 1));
    let out = s.add_with_pem(A, "client-e", &expired).await;
    assert_eq!(out.status.code(), Some(2), "{}", all(&out));
    assert!(
        all(&out).contains("step key material") && all(&out).contains("expired on 2024-01-01"),
        "{}",
        all(&out)
    );
    // A real PKCS#12 file, and the wrong password for it.
    let good = KeyMaterial::generate("digipost");
    let (p12, wrong) = (s.file("x.p12", &pkcs12(&good, "s3cret")), s.file("pw", b"guess\n"));
    let out = s.add(A, "client-e", &["--p12", &p12, "--password-file", &wrong]).await;
    assert_eq!(out.status.code(), Some(2), "{}", all(&out));
    assert!(
        all(&out).contains("is not a PKCS#12 file this password opens"),
        "{}",
        all(&out)
    );
    let list: Value = serde_json::from_slice(&s.cli(&["connections", "list", "--json"]).await.stdout).unwrap();
    assert_eq!(list, json!([]), "nothing stored");
    let secrets = s.moto.clients().await.secrets;
    let listed = secrets.list_secrets().send().await.unwrap();
    assert!(
        !listed
            .secret_list()
            .iter()
            .any(|e| e.name().unwrap_or_default().starts_with(&s.secrets_prefix)),
        "no secret stored"
    );
    // A second connection for the same entity.
    s.register("client-e", A, &good);
    assert!(s.add_with_pem(A, "client-e", &good).await.status.success());
    let out = s.add_with_pem(A, "client-e", &good).await;
    assert_eq!(out.status.code(), Some(2), "{}", all(&out));
    assert!(all(&out).contains("already has a connection"), "{}", all(&out));
}

/// An onboarding walked with the CLI: requested, the certificate handed over, waiting for
/// the ClientID; the ClientID for an account e-Box does not know yet is refused with the
/// step to redo, and nothing runs; once the account is there, a test connects it and the
/// first run completes the onboarding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_onboarding_step_by_step() {
    let s = Setup::start().await;
    let key = KeyMaterial::generate("digipost");
    let step = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let s = &s;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = s.cli(&args).await;
            assert!(out.status.success(), "{args:?}: {}", all(&out));
            stdout(&out)
        }
    };
    let show = || async {
        let out = s.cli(&["connections", "show", "--entity", A, "--json"]).await;
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["connection"].clone()
    };
    let text = step(&[
        "connections",
        "request",
        "--entity",
        A,
        "--name",
        "IV",
        "--facilipunt",
        "FP-42",
    ])
    .await;
    assert!(text.contains("DigiPost hands the entity its certificate"), "{text}");
    let c = show().await;
    assert_eq!(c["credentials"]["kind"], "awaiting_client_id");
    assert_eq!(c["onboarding"]["facilipunt_reference"], "FP-42");
    step(&[
        "connections",
        "step",
        "--entity",
        A,
        "--step",
        "certificate_handed_over",
        "--certificate",
        "digipost-2026",
    ])
    .await;
    let text = step(&["connections", "step", "--entity", A, "--step", "waiting_for_client_id"]).await;
    assert!(text.contains("ChaMan"), "{text}");
    let c = show().await;
    assert!(c["onboarding"]["requested_at"].is_string() && c["onboarding"]["waiting_for_client_id_at"].is_string());
    assert_eq!(c["onboarding"]["certificate"], "digipost-2026");
    // Not connected: a run leaves it alone and writes nothing.
    let out = s.cli(&["run", "--entity", A]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("not connected yet"), "{}", all(&out));
    // A step it is past, or one only a test records, is refused by name.
    let out = s
        .cli(&["connections", "step", "--entity", A, "--step", "requested"])
        .await;
    assert_eq!(out.status.code(), Some(2), "{}", all(&out));
    assert!(all(&out).contains("past requested"), "{}", all(&out));
    let out = s
        .cli(&["connections", "step", "--entity", A, "--step", "connected"])
        .await;
    assert!(all(&out).contains("recorded by a test"), "{}", all(&out));

    // The ClientID comes before e-Box knows the account: added, tested, refused.
    let out = s.add_with_pem(A, "client-a", &key).await;
    assert_eq!(out.status.code(), Some(1), "{}", all(&out));
    assert!(stdout(&out).contains("does NOT work: step token"), "{}", all(&out));
    let c = show().await;
    assert_eq!(c["onboarding"]["refusal"]["action"], "webservice_account", "{c}");
    assert_eq!(c["name"], "IV");
    let rows: Value = serde_json::from_slice(&s.cli(&["status", "--json"]).await.stdout).unwrap();
    assert_eq!(rows[0]["onboarding"], "client_id_received", "{rows}");
    assert!(rows[0]["instruction"].as_str().unwrap().contains("ChaMan"), "{rows}");
    let out = s.cli(&["run", "--entity", A]).await;
    assert!(stdout(&out).contains("not connected yet"), "{}", all(&out));

    // The account is made: a test connects it, and the first run completes the onboarding.
    s.register("client-a", A, &key);
    let text = step(&["connections", "test", "--entity", A]).await;
    assert!(text.contains("works"), "{text}");
    assert!(show().await["onboarding"]["connected_at"].is_string());
    let out = s.cli(&["run", "--entity", A, "--json"]).await;
    assert!(out.status.success(), "{}", all(&out));
    let c = show().await;
    assert!(c["onboarding"]["first_message_delivered_at"].is_string(), "{c}");
    assert!(c["onboarding"].get("refusal").is_none(), "{c}");
    let list = stdout(&s.cli(&["connections", "list"]).await);
    assert!(list.contains("first_message_delivered"), "{list}");
    assert!(!all(&s.cli(&["status"]).await).contains("BEGIN"), "no key material");
}
