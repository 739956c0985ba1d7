//! The whole system, running locally: a moto server, the e-Box simulator, and both
//! functions under `cargo lambda watch`. Used by the end-to-end tests and by `make demo`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use delivery::EntityId;
use delivery::aws::{AwsClients, DynamoConnections, DynamoState, S3Objects};
use delivery::config::StorageNames;
use delivery::ports::*;
use ebox_sim::data::Scenario;
use ebox_sim::{SimConfig, Simulator};
use serde_json::Value;
use testkit::events::EventTap;
use testkit::fault_proxy::FaultProxy;
use testkit::{KeyMaterial, LambdaWatch, MotoServer};

/// A committed event payload, by its path from the workspace root.
pub fn fixture(path: &str) -> Value {
    let full = testkit::workspace_root().join(path);
    serde_json::from_str(&std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))).unwrap()
}

pub struct System {
    pub sim: Simulator,
    pub watch: LambdaWatch,
    pub clients: AwsClients,
    pub names: StorageNames,
    pub http: reqwest::Client,
    pub keys: Vec<KeyMaterial>,
    /// What reached the event bus, read through a rule and a queue as a subscriber would.
    pub tap: EventTap,
    /// Between the functions and moto, when started [`System::through_proxy`].
    pub proxy: Option<FaultProxy>,
    /// Prefixed to the secrets this system makes, so systems sharing a moto never meet.
    secret_prefix: String,
    _moto: MotoServer,
}

impl System {
    pub async fn start() -> Self {
        Self::start_with(false, &[]).await
    }

    /// The functions reach AWS through a [`FaultProxy`] in front of moto; the test's own
    /// clients reach moto directly.
    pub async fn through_proxy() -> Self {
        Self::start_with(true, &[]).await
    }

    /// With these variables for the functions besides the usual ones.
    pub async fn with_env(extra: &[(&str, &str)]) -> Self {
        Self::start_with(false, extra).await
    }

    async fn start_with(proxied: bool, extra: &[(&str, &str)]) -> Self {
        let moto = MotoServer::start();
        let clients = moto.clients().await;
        let names = moto.fresh_storage(&clients).await;
        let tap = EventTap::on_moto(&moto, &names.event_bus).await;
        let proxy = proxied.then(|| FaultProxy::start(&moto.url));
        let aws_url = proxy.as_ref().map_or_else(|| moto.url.clone(), FaultProxy::url);
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        let secret_prefix = format!("{}/", testkit::unique_name("e2e"));
        let env = testkit::process_env(&aws_url, &names, sim.shared()).into_iter().chain([
            ("FETCH_FUNCTION_NAME", "fetch".to_owned()),
            // Where the connections API stores the secrets it makes.
            ("SECRETS_PREFIX", secret_prefix.clone()),
            // As `infra/` sets it by default: no scope named, every granted one carried.
            ("EBOX_SCOPES", String::new()),
            // As `infra/` configures the functions: one JSON object a log line.
            ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
        ]);
        let env: Vec<(&str, String)> = env
            .into_iter()
            .chain(extra.iter().map(|(k, v)| (*k, (*v).to_owned())))
            .collect();
        let watch = LambdaWatch::start(&env);
        Self {
            sim,
            watch,
            clients,
            names,
            http: reqwest::Client::new(),
            keys: Vec::new(),
            tap,
            proxy,
            secret_prefix,
            _moto: moto,
        }
    }

    pub fn connections(&self) -> DynamoConnections {
        DynamoConnections::new(self.clients.dynamodb.clone(), &self.names.connections_table)
    }

    pub fn state(&self) -> DynamoState {
        DynamoState::new(self.clients.dynamodb.clone(), &self.names.state_table)
    }

    pub fn objects(&self) -> S3Objects {
        S3Objects::new(&self.clients, &self.names.verdeelbak_bucket)
    }

    /// The name of an entity's own secret.
    pub fn secret_id(&self, entity: &str) -> String {
        format!("{}ebox/{entity}", self.secret_prefix)
    }

    /// Onboards an entity with a secret of its own.
    pub async fn connect(&mut self, entity: &str, enabled: bool) {
        let key = KeyMaterial::generate("digipost");
        let secrets = testkit::backend::Secrets::Moto(self.clients.clone());
        let connections = self.connections();
        let secret_id = self.secret_id(entity);
        let connection = testkit::backend::onboard(&self.sim, &secrets, &connections, entity, &secret_id, &key).await;
        if !enabled {
            connections
                .set_enabled(&connection.entity_id, false, Utc::now())
                .await
                .unwrap();
        }
        self.keys.push(key);
        self.sim.generate(&Scenario::of(21, entity, 12, 2, 30_000));
    }

    /// Onboards an entity that uses another entity's key material (DigiPost's shared
    /// certificate) with a ClientID of its own kept in its connection record.
    pub async fn connect_shared(&mut self, entity: &str, certificate_of: &str) {
        let key = self.keys.last().expect("connect an entity with its own secret first");
        let client_id = format!("client-{entity}");
        self.sim.register(&client_id, entity, &key.certificate_pem).unwrap();
        let id = EntityId::parse(entity).unwrap();
        self.connections()
            .put(&Connection::new(
                id,
                format!("Entiteit {entity}"),
                CredentialsRef::SharedCertificate {
                    client_id,
                    certificate_secret_id: self.secret_id(certificate_of),
                },
                Utc::now(),
            ))
            .await
            .unwrap();
        self.sim.generate(&Scenario::of(22, entity, 7, 1, 80_000));
    }

    /// An HTTP request to the connections API through the emulator's function URL: its
    /// status, content type and JSON body.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> (u16, String, Value) {
        let mut request = self.http.request(method, self.watch.function_url("connections", path));
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.expect("the connections API answers");
        let status = response.status().as_u16();
        let content_type = (response.headers().get("content-type"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            content_type,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn invoke(&self, function: &str, payload: &Value) -> Value {
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

    pub async fn last_run(&self, entity: &str) -> Option<Value> {
        let stored = self
            .state()
            .get_last(&EntityId::parse(entity).unwrap())
            .await
            .unwrap()?;
        let report = stored.report().expect("a stored run of this version");
        Some(serde_json::to_value(report).unwrap())
    }

    /// Where the functions' log stands now; runs reported after it are new.
    pub fn log_mark(&self) -> usize {
        self.watch.logs().len()
    }

    /// Waits until each entity has a run report in the functions' log after `mark` (the
    /// report line every fetch run logs, whether or not it stored its status), and
    /// returns the first such report of each.
    pub async fn wait_for_runs(&self, entities: &[&str], mark: usize) -> HashMap<String, Value> {
        let started = Instant::now();
        loop {
            let logs = self.watch.logs();
            let mut done = HashMap::new();
            let reports = logs.get(mark..).unwrap_or_default().lines();
            for report in reports.filter_map(delivery::handlers::logged_run_report) {
                if let Some(entity) = report["entity_id"].as_str().filter(|e| entities.contains(e)) {
                    done.entry(entity.to_owned()).or_insert(report);
                }
            }
            if done.len() == entities.len() {
                return done;
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "fetch runs did not finish; logs:\n{logs}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await; // the poll interval
        }
    }

    /// Every message of the entity's e-Box is in its verdeelbak, byte for byte, and
    /// nothing else is.
    pub async fn assert_delivered(&self, entity: &str) {
        let prefix = Connection::default_prefix(&EntityId::parse(entity).unwrap());
        let store = self.objects();
        let mut objects = std::collections::BTreeMap::new();
        for meta in store.list(&prefix).await.unwrap() {
            let bytes = store.get(&meta.key).await.unwrap().unwrap();
            objects.insert(meta.key, bytes.to_vec());
        }
        let mut expected = std::collections::BTreeSet::new();
        for provider in ["ebox-enterprise", "vlaamse-overheid"] {
            for m in self.sim.messages(provider, entity) {
                expected.extend(testkit::verdeelbak::assert_message_delivered(
                    &objects, &prefix, provider, &m,
                ));
            }
        }
        let stored: std::collections::BTreeSet<String> = objects.into_keys().collect();
        assert_eq!(stored, expected, "exactly the expected objects");
    }
}
