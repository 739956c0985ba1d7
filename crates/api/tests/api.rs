//! The connections API over HTTP: its router served on a local port, the stores on moto
//! (and in memory where a test needs no AWS), e-Box through the simulator with real signed
//! assertions. The document test pins the committed OpenAPI document to the code.

use std::sync::Arc;

use connections_api::{Api, openapi, router};
use delivery::fetch::{FetchRequest, FetchSettings, Fetcher, Outcome, SystemClock};
use ebox_sim::data::Scenario;
use ebox_sim::{SimConfig, Simulator};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::KeyMaterial;
use testkit::backend::Backend;

const A: &str = "0403170701";
const PROBLEM: &str = "application/problem+json";
const DOCUMENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

fn api(b: &Backend, sim: &Simulator) -> Api {
    Api {
        connections: b.connections.clone(),
        snapshots: b.stores.snapshots.clone(),
        reports: b.stores.reports.clone(),
        secrets: b.secrets.admin(),
        answers: b.answers.clone(),
        secrets_prefix: b.secret_name(""),
        ebox: ebox::Ebox::new(testkit::sim_ebox_config(sim)).map_err(|e| e.to_string()),
        stuck_after: chrono::Duration::days(14),
        answers_kept: chrono::Duration::hours(24),
    }
}

/// The router on a local port, as the platform reaches it, and what the answers said.
struct Served {
    url: String,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
    /// Every answer body, to look for secrets in.
    seen: std::sync::Mutex<Vec<String>>,
}

impl Served {
    async fn start(api: Api) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = router(Arc::new(api));
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url,
            http: reqwest::Client::new(),
            server,
            seen: Default::default(),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, String, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_type = (response.headers().get("content-type"))
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        self.seen.lock().unwrap().push(text.clone());
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, content_type, value)
    }

    async fn get(&self, path: &str) -> Value {
        let (status, _, body) = self.call(Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    fn assert_no_secret_answered(&self, key: &KeyMaterial) {
        let line = key.private_key_pem.lines().nth(1).unwrap();
        for answer in self.seen.lock().unwrap().iter() {
            assert!(!answer.contains(line) && !answer.contains("PRIVATE KEY"), "{answer}");
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn create(key: Option<&KeyMaterial>, client_id: Option<&str>) -> Value {
    let mut body = json!({"entity_id": "0403.170.701", "name": "Informatie Vlaanderen"});
    if let Some(client_id) = client_id {
        body["client_id"] = json!(client_id);
    }
    if let Some(key) = key {
        body["private_key_pem"] = json!(key.private_key_pem);
        body["certificate_pem"] = json!(key.certificate_pem);
    }
    body
}

#[test]
fn the_committed_openapi_document_is_the_one_the_code_generates() {
    let generated = openapi().to_pretty_json().unwrap() + "\n";
    if std::env::var_os("OPENAPI_WRITE").is_some() {
        std::fs::write(DOCUMENT, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(DOCUMENT).unwrap_or_default();
    assert!(
        committed == generated,
        "crates/api/openapi.json is not what the code generates: run `make openapi` and commit it"
    );
    let document: Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
}

/// Every route the document names answers, none with the router's "no such route".
#[tokio::test]
async fn every_route_in_the_document_is_served() {
    let b = Backend::memory().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let served = Served::start(api(&b, &sim)).await;
    let document: Value = serde_json::to_value(openapi()).unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 8, "{paths:?}");
    let mut called = 0;
    for (path, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let concrete = path.replace("{entity_id}", A);
            let body = (method == Method::POST).then(|| json!({}));
            let (status, content_type, answer) = served.call(method.clone(), &concrete, body, None).await;
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_ne!(
                answer["type"], "urn:digipost-ebox:problem:no-such-route",
                "{method} {path}"
            );
            if !status.is_success() {
                assert_eq!(content_type, PROBLEM, "{method} {path}: {answer}");
            }
            called += 1;
        }
    }
    assert!(called >= 10, "{called}");
    // What the document does not name is answered as a problem.
    let (status, content_type, answer) = served.call(Method::GET, "/nothing-here", None, None).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::NOT_FOUND, PROBLEM));
    assert_eq!(answer["type"], "urn:digipost-ebox:problem:no-such-route");
    assert_eq!(served.get("/openapi.json").await, document);
}

/// An onboarding walked through the API: requested, certificate handed over, waiting for
/// the ClientID; a ClientID e-Box does not know yet is refused with the entity's step;
/// once the account is there a test connects it, and the first run completes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_onboarding_walked_through_the_api() {
    let b = Backend::moto().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let served = Served::start(api(&b, &sim)).await;
    let key = KeyMaterial::generate("digipost");
    let mut request = create(None, None);
    request["facilipunt_reference"] = json!("FP-2026-0042");
    let (status, _, created) = served.call(Method::POST, "/connections", Some(request), None).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["connection"]["credentials"]["kind"], "awaiting_client_id");
    let path = format!("/connections/{A}");
    let detail = served.get(&path).await;
    assert_eq!(detail["onboarding"]["step"], "requested");
    assert_eq!(detail["onboarding"]["next_by"], "digipost");
    for step in ["certificate_handed_over", "waiting_for_client_id"] {
        let body = json!({"step": step, "certificate": "digipost-2026"});
        let (status, _, answer) = served
            .call(Method::POST, &format!("{path}/onboarding"), Some(body), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let detail = served.get(&path).await;
    assert_eq!(detail["onboarding"]["step"], "waiting_for_client_id");
    assert_eq!(detail["connection"]["onboarding"]["certificate"], "digipost-2026");
    assert!(
        detail["onboarding"]["next"].as_str().unwrap().contains("ChaMan"),
        "{detail}"
    );
    // A step it is past is refused, and says so.
    let body = json!({"step": "requested"});
    let (status, content_type, problem) = served
        .call(Method::POST, &format!("{path}/onboarding"), Some(body), None)
        .await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::CONFLICT, PROBLEM),
        "{problem}"
    );
    assert_eq!(problem["entity_id"], A);

    // The ClientID, before e-Box knows the account: stored, tested, refused with the step.
    let (status, _, created) = served
        .call(
            Method::POST,
            "/connections",
            Some(create(Some(&key), Some("client-a"))),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["test"]["works"], false, "{created}");
    assert_eq!(created["test"]["step"], "token");
    assert_eq!(created["test"]["action"], "webservice_account");
    let detail = served.get(&path).await;
    assert_eq!(detail["onboarding"]["step"], "client_id_received");
    assert_eq!(detail["onboarding"]["next_by"], "entity");
    assert_eq!(
        detail["connection"]["onboarding"]["facilipunt_reference"],
        "FP-2026-0042"
    );
    let rows = served.get("/status?needs_action=false").await;
    assert_eq!(rows[0]["onboarding"], "client_id_received", "{rows}");

    // The account is made: a test connects it; the first run completes the onboarding.
    sim.register("client-a", A, &key.certificate_pem).unwrap();
    sim.generate(&Scenario::of(4, A, 3, 1, 2_000));
    let (status, _, tested) = served.call(Method::POST, &format!("{path}/test"), None, None).await;
    assert_eq!((status, &tested["works"]), (StatusCode::OK, &json!(true)), "{tested}");
    assert_eq!(served.get(&path).await["onboarding"]["step"], "connected");
    let fetcher = Fetcher {
        connections: b.connections.clone(),
        stores: b.stores.clone(),
        objects: b.objects.clone(),
        secrets: b.secrets.store(),
        ebox: Arc::new(ebox::Ebox::new(testkit::sim_ebox_config(&sim)).unwrap()),
        events: b.events.clone(),
        clock: Arc::new(SystemClock),
        settings: FetchSettings::default(),
    };
    let run = fetcher
        .run(
            &FetchRequest {
                entity_id: A.into(),
                ..FetchRequest::default()
            },
            None,
        )
        .await;
    assert_eq!(run.outcome, Outcome::Ok, "{run:?}");
    let detail = served.get(&path).await;
    assert_eq!(detail["onboarding"]["step"], "first_message_delivered", "{detail}");
    assert_eq!(detail["last_run"]["outcome"], "ok");
    assert_eq!(detail["connection"]["health"]["state"], "ok");

    // The views, paging, enable and disable, and removal.
    let page = served.get("/connections?limit=1").await;
    assert_eq!(page["items"][0]["entity_id"], A);
    let rotation = served.get("/rotation").await;
    assert_eq!(rotation[0]["entity_id"], A, "{rotation}");
    let (status, _, disabled) = served.call(Method::POST, &format!("{path}/disable"), None, None).await;
    assert_eq!((status, &disabled["enabled"]), (StatusCode::OK, &json!(false)));
    let (_, _, enabled) = served.call(Method::POST, &format!("{path}/enable"), None, None).await;
    assert_eq!(enabled["enabled"], true);
    let (status, _, removed) = served.call(Method::DELETE, &path, None, None).await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    let secret = removed["secret_scheduled_for_deletion"].as_str().unwrap();
    assert!(secret.contains(&format!("connections/{A}/")), "{secret}");
    assert!(b.secrets.names_under(secret).await.is_empty(), "scheduled for deletion");
    let (status, content_type, _) = served.call(Method::GET, &path, None, None).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::NOT_FOUND, PROBLEM));
    served.assert_no_secret_answered(&key);
}

/// Bad input is answered with a problem naming the field, and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_problem_naming_the_field_and_nothing_is_stored() {
    let b = Backend::moto().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let served = Served::start(api(&b, &sim)).await;
    let key = KeyMaterial::generate("digipost");
    let other = KeyMaterial::generate("other");
    let mut mismatched = create(Some(&key), Some("client-a"));
    mismatched["certificate_pem"] = json!(other.certificate_pem);
    let mut without_cert = create(Some(&key), Some("client-a"));
    without_cert.as_object_mut().unwrap().remove("certificate_pem");
    let mut both = create(Some(&key), Some("client-a"));
    both["shared_certificate"] = json!("digipost/ebox/certificate");
    let mut bad_prefix = create(Some(&key), Some("client-a"));
    bad_prefix["verdeelbak_prefix"] = json!("verdeelbak/0123456749/");
    let mut unknown = create(None, None);
    unknown["colour"] = json!("blue");
    // Key material in a field that takes no string: the problem does not quote it.
    let mut misplaced = create(Some(&key), Some("client-a"));
    misplaced["scopes"] = json!(key.private_key_pem);
    let cases = [
        (json!({"entity_id": "0403170702", "name": "x"}), "entity_id"),
        (json!({"entity_id": A}), "name"),
        (unknown, "colour"),
        (misplaced, "scopes"),
        (json!({"entity_id": A, "name": "x", "client_id": 7}), "client_id"),
        (json!(["not", "an", "object"]), "body"),
        (mismatched, "private_key_pem"),
        (without_cert, "certificate_pem"),
        (both, "shared_certificate"),
        (bad_prefix, "verdeelbak_prefix"),
        (create(Some(&key), None), "client_id"),
        (
            json!({"entity_id": A, "name": "x", "client_id": "c", "shared_certificate": "no/such/secret"}),
            "shared_certificate",
        ),
    ];
    for (body, field) in cases {
        let (status, content_type, problem) = served.call(Method::POST, "/connections", Some(body), None).await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, PROBLEM),
            "{problem}"
        );
        assert_eq!(problem["field"], field, "{problem}");
        assert_eq!(problem["status"], 422);
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()), "{problem}");
    }
    // Too large a body, and a query out of bounds.
    let huge = json!({"entity_id": A, "name": "x".repeat(100_000)});
    let (status, content_type, problem) = served.call(Method::POST, "/connections", Some(huge), None).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, PROBLEM),
        "{problem}"
    );
    let (status, _, problem) = served.call(Method::GET, "/connections?limit=0", None, None).await;
    assert_eq!(
        (status, &problem["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("limit"))
    );
    let (status, _, problem) = served.call(Method::GET, "/connections/0403170702", None, None).await;
    assert_eq!(
        (status, &problem["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("entity_id"))
    );
    // Nothing stored: no connection, no secret.
    assert_eq!(served.get("/connections").await["items"], json!([]));
    assert_eq!(
        b.secrets.names_under(&b.secret_name("")).await,
        Vec::<String>::new(),
        "no secret stored"
    );
    served.assert_no_secret_answered(&key);
}

/// A create repeated under its Idempotency-Key gets the first answer, and does nothing
/// again; the key with another request is refused; without a key, a second is a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_repeated_under_its_idempotency_key_is_done_once() {
    let b = Backend::moto().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let served = Served::start(api(&b, &sim)).await;
    let key = KeyMaterial::generate("digipost");
    sim.register("client-a", A, &key.certificate_pem).unwrap();
    let body = create(Some(&key), Some("client-a"));
    let (first_status, _, first) = served
        .call(Method::POST, "/connections", Some(body.clone()), Some("k-1"))
        .await;
    assert_eq!(first_status, StatusCode::CREATED, "{first}");
    assert_eq!(first["test"]["works"], true, "{first}");
    let (again_status, _, again) = served
        .call(Method::POST, "/connections", Some(body.clone()), Some("k-1"))
        .await;
    assert_eq!(
        (again_status, &again),
        (first_status, &first),
        "the first answer, again"
    );
    let (status, content_type, problem) = served
        .call(Method::POST, "/connections", Some(create(None, None)), Some("k-1"))
        .await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, PROBLEM),
        "{problem}"
    );
    assert_eq!(problem["field"], "Idempotency-Key");
    let (status, _, problem) = served.call(Method::POST, "/connections", Some(body), None).await;
    assert_eq!(
        (status, &problem["type"]),
        (StatusCode::CONFLICT, &json!("urn:digipost-ebox:problem:conflict"))
    );
    let (status, _, problem) = served
        .call(
            Method::POST,
            "/connections",
            Some(create(None, None)),
            Some(&"k".repeat(300)),
        )
        .await;
    assert_eq!(
        (status, &problem["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("Idempotency-Key"))
    );
    // One connection, its creation time that of the first create.
    let page = served.get("/connections").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["created_at"], first["connection"]["created_at"]);
    served.assert_no_secret_answered(&key);
}

/// A connection made before onboardings were kept is connected: a reported step is past,
/// and it stays connected.
#[tokio::test]
async fn a_connection_from_before_onboardings_is_past_every_reported_step() {
    let b = Backend::memory().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let served = Served::start(api(&b, &sim)).await;
    let id = delivery::EntityId::parse(A).unwrap();
    let secret_id = "digipost/ebox/connections/0403170701".to_owned();
    let old = delivery::ports::Connection::new(
        id,
        "old",
        delivery::ports::CredentialsRef::Secret { secret_id },
        chrono::Utc::now(),
    );
    b.connections.put(&old).await.unwrap();
    for step in ["requested", "certificate_handed_over", "waiting_for_client_id"] {
        let body = json!({"step": step});
        let (status, content_type, problem) = served
            .call(Method::POST, &format!("/connections/{A}/onboarding"), Some(body), None)
            .await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::CONFLICT, PROBLEM),
            "{problem}"
        );
    }
    let detail = served.get(&format!("/connections/{A}")).await;
    assert_eq!(
        (&detail["onboarding"]["step"], &detail["onboarding"]["connected"]),
        (&json!("connected"), &json!(true))
    );
    assert_eq!(detail["connection"].get("onboarding"), None, "no record made");
}

/// At the finest level the function's own code logs, and the runtime and the SDK do not
/// (they would write a create's raw event, and what Secrets Manager answers).
#[test]
fn the_finest_log_level_reaches_only_this_projects_code() {
    use tracing_subscriber::filter::LevelFilter;
    let written = testkit::log_capture::CapturedLog::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(connections_api::log_filter(LevelFilter::TRACE))
        .with_writer(written.writer())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tracing::trace!(target: "lambda_runtime::layers::api_response", "raw event PRIVATE KEY");
        tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", "response body SECRET VALUE");
        tracing::trace!(target: "connections_api::routes", "own trace");
        tracing::info!(target: "lambda_runtime", "runtime info");
    });
    let text = written.text();
    assert!(text.contains("own trace") && text.contains("runtime info"), "{text}");
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains("SECRET VALUE"),
        "{text}"
    );
}

/// A repeat that comes while the first request is still being answered is told to wait and
/// does nothing; a claim left by a function that died is taken over.
#[tokio::test]
async fn a_repeat_during_the_first_answer_waits_and_an_abandoned_claim_is_taken_over() {
    use delivery::ports::Answer;
    use sha2::{Digest, Sha256};
    let b = Backend::memory().await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let served = Served::start(api(&b, &sim)).await;
    let body = create(None, None);
    let digest = |bytes: &[u8]| delivery::ports::hex(Sha256::digest(bytes));
    let request = digest(&serde_json::to_vec(&body).unwrap());
    let claim = |key: &str, ago: i64| {
        let answer = Answer {
            request: request.clone(),
            status: 0,
            body: (chrono::Utc::now() - chrono::Duration::seconds(ago)).to_rfc3339(),
        };
        let (answers, key) = (b.answers.clone(), digest(key.as_bytes()));
        async move { assert!(answers.remember(&key, &answer, chrono::Utc::now()).await.unwrap()) }
    };
    // Claimed a second ago: being answered.
    claim("busy", 1).await;
    let (status, content_type, problem) = served
        .call(Method::POST, "/connections", Some(body.clone()), Some("busy"))
        .await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::CONFLICT, PROBLEM),
        "{problem}"
    );
    assert_eq!(problem["type"], "urn:digipost-ebox:problem:in-progress");
    assert_eq!(served.get("/connections").await["items"], json!([]), "nothing done");
    // Claimed five minutes ago: its function died; this repeat answers, and is kept.
    claim("left", 300).await;
    let (status, _, created) = served
        .call(Method::POST, "/connections", Some(body.clone()), Some("left"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, _, again) = served
        .call(Method::POST, "/connections", Some(body), Some("left"))
        .await;
    assert_eq!((status, &again), (StatusCode::CREATED, &created));
}
