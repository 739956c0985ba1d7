//! The whole system the way AWS runs it: moto for S3, DynamoDB and Secrets Manager, the
//! e-Box simulator, and both functions under `cargo lambda watch`, fanout reaching fetch
//! through the Invoke API.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use delivery::EntityId;
use delivery::aws::{AwsClients, DynamoConnections, DynamoState, S3Objects};
use delivery::config::StorageNames;
use delivery::fetch::keys;
use delivery::ports::*;
use ebox_sim::data::{CONSULT_SCOPE, REGISTRY_SCOPE, Scenario};
use ebox_sim::{SimConfig, Simulator};
use serde_json::{Value, json};
use sha2::Digest;
use testkit::{KeyMaterial, LambdaWatch, MotoServer, REGION};

const A: &str = "0403170701";
const B: &str = "0123456749";
const C: &str = "1000000021";
const D: &str = "0200000043";

struct System {
    sim: Simulator,
    watch: LambdaWatch,
    clients: AwsClients,
    names: StorageNames,
    http: reqwest::Client,
    keys: Vec<KeyMaterial>,
    _moto: MotoServer,
}

fn fixture(path: &str) -> Value {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))).unwrap()
}

impl System {
    async fn start() -> Self {
        let moto = MotoServer::start();
        let clients = moto.clients().await;
        let names = moto.fresh_storage(&clients).await;
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        let env = [
            ("AWS_ENDPOINT_URL", moto.url.clone()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("CONNECTIONS_TABLE", names.connections_table.clone()),
            ("STATE_TABLE", names.state_table.clone()),
            ("VERDEELBAK_BUCKET", names.verdeelbak_bucket.clone()),
            ("FETCH_FUNCTION_NAME", "fetch".to_owned()),
            ("EBOX_TOKEN_URL", sim.token_url()),
            ("EBOX_AUDIENCE", sim.audience()),
            ("EBOX_PROVIDER_REGISTRY_URL", sim.provider_registry_url()),
            ("EBOX_SCOPES", format!("{CONSULT_SCOPE} {REGISTRY_SCOPE}")),
        ];
        let watch = LambdaWatch::start(&env);
        Self {
            sim,
            watch,
            clients,
            names,
            http: reqwest::Client::new(),
            keys: Vec::new(),
            _moto: moto,
        }
    }

    fn connections(&self) -> DynamoConnections {
        DynamoConnections::new(self.clients.dynamodb.clone(), &self.names.connections_table)
    }

    fn state(&self) -> DynamoState {
        DynamoState::new(self.clients.dynamodb.clone(), &self.names.state_table)
    }

    fn objects(&self) -> S3Objects {
        S3Objects::new(self.clients.s3.clone(), &self.names.verdeelbak_bucket)
    }

    /// Onboards an entity with a secret of its own.
    async fn connect(&mut self, entity: &str, enabled: bool) {
        let key = KeyMaterial::generate("digipost");
        let client_id = format!("client-{entity}");
        self.sim.register_client(
            ebox_sim::auth::client_from_certificate(
                &client_id,
                entity,
                &key.certificate_pem,
                [CONSULT_SCOPE, REGISTRY_SCOPE].map(String::from).into_iter().collect(),
            )
            .unwrap(),
        );
        let secret_id = format!("digipost/ebox/{entity}");
        let secret = json!({"client_id": client_id, "private_key_pem": key.private_key_pem, "certificate_pem": key.certificate_pem});
        self.clients
            .secrets
            .create_secret()
            .name(&secret_id)
            .secret_string(secret.to_string())
            .send()
            .await
            .unwrap();
        let id = EntityId::parse(entity).unwrap();
        self.connections()
            .put(&Connection {
                name: format!("Entiteit {entity}"),
                enabled,
                credentials: CredentialsRef::Secret { secret_id },
                verdeelbak_prefix: Connection::default_prefix(&id),
                created_at: Utc::now(),
                updated_at: Utc::now(),
                entity_id: id,
            })
            .await
            .unwrap();
        self.keys.push(key);
        self.sim.generate(&Scenario {
            seed: 21,
            enterprises: vec![entity.into()],
            messages_per_enterprise: 12,
            attachments_per_message: 2,
            attachment_size: 30_000,
            providers: vec![],
        });
    }

    async fn invoke(&self, function: &str, payload: &Value) -> Value {
        let r = self
            .http
            .post(self.watch.invoke_url(function))
            .json(payload)
            .timeout(Duration::from_secs(600))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert!(status.is_success(), "{function} answered {status}: {body}");
        body
    }

    async fn last_run(&self, entity: &str) -> Option<Value> {
        self.state().get_last(&EntityId::parse(entity).unwrap()).await.unwrap()
    }

    /// Polls each entity's last-run status until a run newer than `before` is there.
    async fn wait_for_runs(
        &self,
        entities: &[&str],
        before: &HashMap<String, Option<String>>,
    ) -> HashMap<String, Value> {
        let started = Instant::now();
        let mut done = HashMap::new();
        while done.len() < entities.len() {
            for e in entities {
                if done.contains_key(*e) {
                    continue;
                }
                if let Some(report) = self.last_run(e).await {
                    let id = report["run_id"].as_str().map(str::to_owned);
                    if before.get(*e).cloned().flatten() != id {
                        done.insert(e.to_string(), report);
                    }
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "fetch runs did not finish; logs:\n{}",
                self.watch.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        done
    }

    async fn run_ids(&self, entities: &[&str]) -> HashMap<String, Option<String>> {
        let mut ids = HashMap::new();
        for e in entities {
            let id = self
                .last_run(e)
                .await
                .and_then(|r| r["run_id"].as_str().map(str::to_owned));
            ids.insert(e.to_string(), id);
        }
        ids
    }

    /// Every message of the entity's e-Box is in its verdeelbak, byte for byte.
    async fn assert_delivered(&self, entity: &str) {
        let prefix = Connection::default_prefix(&EntityId::parse(entity).unwrap());
        let objects = self.objects();
        let mut expected = 0;
        for provider in ["ebox-enterprise", "vlaamse-overheid"] {
            for m in self.sim.messages(provider, entity) {
                let folder = keys::message_folder(&prefix, provider, &m.id);
                assert!(objects.head(&keys::message_json_key(&folder)).await.unwrap().is_some());
                expected += 1;
                for a in &m.attachments {
                    let key = keys::attachment_key(&folder, &a.id, &a.file_name);
                    let bytes = objects
                        .get(&key)
                        .await
                        .unwrap()
                        .unwrap_or_else(|| panic!("{key} missing"));
                    assert_eq!(
                        <[u8; 32]>::from(sha2::Sha256::digest(&bytes)),
                        a.content.sha256(),
                        "{key}"
                    );
                    expected += 1;
                }
                if m.body_main_content {
                    expected += 1;
                }
            }
        }
        assert_eq!(
            objects.list(&prefix).await.unwrap().len(),
            expected,
            "exactly the expected objects"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_tick_delivers_every_enabled_connection_once() {
    let mut system = System::start().await;
    system.connect(A, true).await;
    system.connect(B, true).await;
    system.connect(C, false).await;
    let entities = [A, B];
    let before = system.run_ids(&entities).await;

    let report = system
        .invoke("fanout", &fixture("functions/fanout/fixtures/scheduled-event.json"))
        .await;
    assert_eq!(report["dispatched"], 2, "{report}");
    assert_eq!(report["skipped_disabled"], 1);
    let runs = system.wait_for_runs(&entities, &before).await;
    for e in entities {
        assert_eq!(runs[e]["outcome"], "ok", "{}", runs[e]);
        assert_eq!(runs[e]["delivered"], 12);
        system.assert_delivered(e).await;
    }
    // The disabled connection was not touched.
    assert!(system.last_run(C).await.is_none());
    assert!(
        system
            .objects()
            .list("verdeelbak/1000000021/")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(system.sim.requests_of(C), 0);

    // A second tick (the Scheduler's own input this time) delivers nothing twice.
    let before = system.run_ids(&entities).await;
    let report = system
        .invoke("fanout", &fixture("functions/fanout/fixtures/scheduler-input.json"))
        .await;
    assert_eq!(report["dispatched"], 2);
    let runs = system.wait_for_runs(&entities, &before).await;
    for e in entities {
        assert_eq!(runs[e]["outcome"], "ok");
        assert_eq!(runs[e]["delivered"], 0, "{}", runs[e]);
        system.assert_delivered(e).await;
    }

    // By hand, for one entity: the fetch function answers with its report.
    system.sim.arrive("ebox-enterprise", A);
    let report = system
        .invoke("fetch", &fixture("functions/fetch/fixtures/manual-single-entity.json"))
        .await;
    assert_eq!(report["outcome"], "ok", "{report}");
    assert_eq!(report["delivered"], 1);
    let invalid = system.invoke("fetch", &json!({"entity_id": "0403170702"})).await;
    assert_eq!(invalid["outcome"], "failed");
    assert_eq!(invalid["error"]["step"], "input");

    // Nothing secret in what the functions logged.
    let logs = system.watch.logs();
    assert!(logs.contains("run report"), "the functions logged their reports");
    for token in system.sim.issued_tokens() {
        assert!(!logs.contains(&token), "an access token is in the logs");
    }
    for key in &system.keys {
        for line in key.private_key_pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!logs.contains(line), "a private key is in the logs");
        }
    }
    assert!(!logs.contains("eyJ"), "a client assertion is in the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_secret_and_a_provider_down_stop_no_one_else() {
    let mut system = System::start().await;
    system.connect(A, true).await;
    system.connect(B, true).await;
    system.connect(D, true).await;
    // B's secret is broken; one provider answers 503 to D for a while.
    system
        .clients
        .secrets
        .put_secret_value()
        .secret_id(format!("digipost/ebox/{B}"))
        .secret_string("{\"client_id\": \"client-0123456749\"}")
        .send()
        .await
        .unwrap();
    system.sim.add_fault(
        serde_json::from_value(json!({"route": "any", "provider": "vlaamse-overheid", "enterprise": D, "kind": {"type": "status", "status": 503}}))
            .unwrap(),
    );
    let entities = [A, B, D];
    let before = system.run_ids(&entities).await;
    let report = system.invoke("fanout", &json!({"entities": entities})).await;
    assert_eq!(report["dispatched"], 3, "{report}");
    let runs = system.wait_for_runs(&entities, &before).await;

    assert_eq!(runs[A]["outcome"], "ok");
    system.assert_delivered(A).await;

    assert_eq!(runs[B]["outcome"], "failed", "{}", runs[B]);
    assert_eq!(runs[B]["error"]["step"], "secret");
    let reason = runs[B]["error"]["message"].as_str().unwrap();
    assert!(reason.contains(B) && reason.contains("private_key_pem"), "{reason}");
    assert!(
        system
            .objects()
            .list("verdeelbak/0123456749/")
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(runs[D]["outcome"], "partial", "{}", runs[D]);
    let down = runs[D]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider_id"] == "vlaamse-overheid")
        .unwrap();
    assert!(down["error"].as_str().unwrap().contains("503"), "{down}");
    let up = runs[D]["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider_id"] == "ebox-enterprise")
        .unwrap();
    assert_eq!(up["delivered"], 6, "{up}");
}
