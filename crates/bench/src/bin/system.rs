//! The whole system against its limits. One scenario per process, so that each memory
//! figure is its own: `system throughput|idle|memory|fanout`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents, SharedInterceptor};
use bench::*;
use delivery::EntityId;
use delivery::aws::AwsClients;
use delivery::fetch::{FetchRequest, FetchSettings, Fetcher, NoCheckpoints, Outcome, SystemClock};
use delivery::memory::{MemoryConnections, MemoryObjects, MemorySecrets};
use delivery::ports::*;
use ebox_sim::data::Scenario;
use ebox_sim::{SimConfig, Simulator};
use serde_json::json;

const ENTITY: &str = "0403170701";
const CONCURRENCY: usize = 8;

/// Counts AWS requests per service (and DynamoDB's per operation), from what goes on the
/// wire. Clones share the counts:
/// one goes into the SDK clients, one stays with the benchmark.
#[derive(Debug, Default, Clone)]
struct Requests(Arc<Mutex<BTreeMap<String, u64>>>);

impl Intercept for Requests {
    fn name(&self) -> &'static str {
        "count-requests"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let request = context.request();
        let service = match request.headers().get("x-amz-target") {
            Some(t) if t.starts_with("DynamoDB") => "dynamodb",
            Some(t) if t.starts_with("secretsmanager") => "secretsmanager",
            Some(_) => "other",
            None if request.uri().contains("/2015-03-31/") => "lambda",
            None => "s3",
        };
        let mut counts = self.0.lock().unwrap();
        *counts.entry(service.to_owned()).or_default() += 1;
        // DynamoDB by operation too ("dynamodb:Query"), to tell reads from writes.
        if let Some(op) = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.strip_prefix("DynamoDB_20120810."))
        {
            *counts.entry(format!("dynamodb:{op}")).or_default() += 1;
        }
        Ok(())
    }
}

impl Requests {
    fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

struct Backend {
    connections: Arc<dyn ConnectionAdmin>,
    state: delivery::stores::Stores,
    objects: Arc<dyn ObjectStore>,
    secrets: Arc<dyn SecretStore>,
    requests: Requests,
    _moto: Option<testkit::MotoServer>,
}

async fn stores(on_moto: bool) -> Backend {
    let requests = Requests::default();
    if !on_moto {
        let secrets = Arc::new(MemorySecrets::default());
        return Backend {
            connections: Arc::new(MemoryConnections::default()),
            state: delivery::stores::Stores::memory(),
            objects: Arc::new(MemoryObjects::default()),
            secrets,
            requests,
            _moto: None,
        };
    }
    let moto = testkit::MotoServer::start();
    let sdk = delivery::aws::load_for_endpoint(&moto.url, testkit::REGION).await;
    let clients = AwsClients::with_interceptor(&sdk, Some(SharedInterceptor::new(requests.clone())));
    let names = moto.fresh_storage(&clients).await;
    let config = delivery::config::FetchConfig {
        storage: names,
        ebox: ebox::EboxConfig::new("http://unused", "unused", vec![], "http://unused"),
        settings: FetchSettings::default(),
        secrets_cache_ttl: Duration::from_secs(300),
    };
    let f = delivery::wiring::fetcher(&clients, &config).unwrap();
    Backend {
        connections: Arc::new(delivery::aws::DynamoConnections::new(
            clients.dynamodb.clone(),
            &config.storage.connections_table,
        )),
        state: f.stores,
        objects: f.objects,
        secrets: f.secrets,
        requests,
        _moto: Some(moto),
    }
}

struct World {
    sim: Simulator,
    fetcher: Fetcher,
    stores: Backend,
}

async fn world(on_moto: bool, latency_ms: u64) -> World {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let key = key("bench");
    sim.register("bench", ENTITY, &key.certificate_pem).unwrap();
    if latency_ms > 0 {
        sim.add_fault(
            serde_json::from_value(json!({"route": "any", "kind": {"type": "latency", "ms": latency_ms}})).unwrap(),
        );
    }
    let stores = stores(on_moto).await;
    let secret =
        json!({"client_id": "bench", "private_key_pem": key.private_key_pem, "certificate_pem": key.certificate_pem});
    match &stores._moto {
        None => {
            // The memory twin of the secret store is only reachable through its concrete type.
            let m = MemorySecrets::default();
            m.set("bench-secret", &secret.to_string());
            let stores = Backend {
                secrets: Arc::new(m),
                ..stores
            };
            return finish(sim, stores).await;
        }
        Some(moto) => {
            let clients = moto.clients().await;
            clients
                .secrets
                .create_secret()
                .name("bench-secret")
                .secret_string(secret.to_string())
                .send()
                .await
                .unwrap();
        }
    }
    finish(sim, stores).await
}

async fn finish(sim: Simulator, stores: Backend) -> World {
    let id = EntityId::parse(ENTITY).unwrap();
    stores.connections.put(&bench_connection(id)).await.unwrap();
    let config = ebox::EboxConfig::new(
        &sim.token_url(),
        &sim.audience(),
        scopes(),
        &sim.provider_registry_url(),
    );
    let fetcher = Fetcher {
        connections: stores.connections.clone(),
        stores: stores.state.clone(),
        objects: stores.objects.clone(),
        secrets: stores.secrets.clone(),
        ebox: ebox::Ebox::new(config).unwrap(),
        clock: Arc::new(SystemClock),
        checkpoints: Arc::new(NoCheckpoints),
        settings: FetchSettings {
            concurrency: CONCURRENCY,
            ..FetchSettings::default()
        },
    };
    World { sim, fetcher, stores }
}

/// The benchmark entity's connection, with its key material in `bench-secret`.
fn bench_connection(id: EntityId) -> Connection {
    let secret = CredentialsRef::Secret {
        secret_id: "bench-secret".into(),
    };
    Connection::new(id, "bench", secret, chrono::Utc::now())
}

fn request() -> FetchRequest {
    FetchRequest {
        entity_id: ENTITY.into(),
        ..FetchRequest::default()
    }
}

/// CPU time of this process so far.
fn cpu_ms() -> f64 {
    process_cpu_ms(std::process::id())
}

/// One entity's delivery rate, and the e-Box requests it made per message against the
/// fewest a message needs.
struct Throughput {
    rate: f64,
    per_message: f64,
    minimum: f64,
}

impl Throughput {
    /// Little's law: what concurrency and latency allow at the minimum requests a message
    /// needs.
    fn little(&self, latency_ms: u64) -> f64 {
        CONCURRENCY as f64 / (latency_ms as f64 / 1000.0 * self.minimum)
    }
}

/// Throughput of a closed loop of `n` jobs that each wait `delay` seconds (e-Box latency,
/// no queue) and then `demand` seconds at one queueing server (moto), by exact mean-value
/// analysis.
fn closed_loop_rate(n: usize, demand: f64, delay: f64) -> f64 {
    let (mut queue, mut rate) = (0.0, 0.0);
    for jobs in 1..=n {
        let residence = demand * (1.0 + queue);
        rate = jobs as f64 / (residence + delay);
        queue = rate * residence;
    }
    rate
}

/// The median of three runs, each on a fresh world.
async fn throughput(on_moto: bool, messages: usize, latency_ms: u64) -> Throughput {
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(throughput_once(on_moto, messages, latency_ms).await);
    }
    median_run(runs)
}

fn median_run(mut runs: Vec<Throughput>) -> Throughput {
    runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let middle = runs.len() / 2;
    runs.swap_remove(middle)
}

async fn throughput_once(on_moto: bool, messages: usize, latency_ms: u64) -> Throughput {
    let w = world(on_moto, latency_ms).await;
    w.sim.generate(&Scenario {
        seed: 3,
        enterprises: vec![ENTITY.into()],
        messages_per_enterprise: messages,
        attachments_per_message: 2,
        attachment_size: 100_000,
        providers: vec!["ebox-enterprise".into()],
    });
    // Every message says it may have a body (bodyMainContent is on each), so each costs
    // a body request besides its attachments.
    let bodies = w.sim.messages("ebox-enterprise", ENTITY).len();
    w.sim.reset_counters();
    let started = Instant::now();
    let report = w.fetcher.run(&request(), None).await.unwrap();
    let took = started.elapsed().as_secs_f64();
    assert_eq!(report.outcome, Outcome::Ok, "{report:?}");
    assert_eq!(report.delivered as usize, messages);
    Throughput {
        rate: messages as f64 / took,
        per_message: w.sim.requests_of(ENTITY) as f64 / messages as f64,
        minimum: 2.0 + bodies as f64 / messages as f64 + 0.01,
    }
}

async fn throughput_rows() -> Vec<Row> {
    let name = |t: &Throughput, on_moto: bool, messages: usize, latency_ms: u64| {
        format!(
            "{messages} msgs, {} stores, e-Box {latency_ms} ms ({:.2} req/msg, min {:.2})",
            if on_moto { "moto" } else { "memory" },
            t.per_message,
            t.minimum
        )
    };
    let mut rows = Vec::new();
    // In memory: the code against Little's law.
    let at_20 = throughput(false, 2000, 20).await;
    let limit = at_20.little(20);
    rows.push(Row {
        name: name(&at_20, false, 2000, 20),
        value: format!("{:.1} msg/s", at_20.rate),
        goal: format!(">= 85% of {limit:.0} ({:.0}%)", at_20.rate / limit * 100.0),
        met: at_20.rate >= 0.85 * limit,
    });
    let at_0 = throughput(false, 2000, 0).await;
    rows.push(Row {
        name: name(&at_0, false, 2000, 0),
        value: format!("{:.1} msg/s", at_0.rate),
        goal: "emulators' limit".into(),
        met: true,
    });
    // On moto: each message also queues at moto, one Python process on the cores the code
    // shares. Its service demand per message is what its best rate without e-Box latency
    // says (its capacity); the limit at 20 ms is then what mean-value analysis of the
    // closed loop gives (8 messages in flight, each waiting on e-Box, then queueing at
    // moto). Runs alternate between 0 and 20 ms, so both see the machine alike.
    let (mut zero, mut twenty) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        zero.push(throughput_once(true, 300, 0).await);
        twenty.push(throughput_once(true, 300, 20).await);
    }
    let capacity = zero.iter().map(|t| t.rate).fold(0.0, f64::max);
    let (moto_0, moto_20) = (median_run(zero), median_run(twenty));
    let limit = closed_loop_rate(CONCURRENCY, 1.0 / capacity, 0.020 * moto_20.minimum);
    rows.push(Row {
        name: name(&moto_20, true, 300, 20),
        value: format!("{:.1} msg/s", moto_20.rate),
        goal: format!(
            ">= 85% of {limit:.0} ({:.0}%; moto's queue at its best {capacity:.0}/s)",
            moto_20.rate / limit * 100.0
        ),
        met: moto_20.rate >= 0.85 * limit,
    });
    rows.push(Row {
        name: name(&moto_0, true, 300, 0),
        value: format!("{:.1} msg/s", moto_0.rate),
        goal: "emulators' limit".into(),
        met: true,
    });
    rows
}

async fn idle() -> Vec<Row> {
    let w = world(true, 0).await;
    w.sim.generate(&Scenario {
        seed: 3,
        enterprises: vec![ENTITY.into()],
        messages_per_enterprise: 30,
        attachments_per_message: 1,
        attachment_size: 10_000,
        providers: vec![],
    });
    assert_eq!(w.fetcher.run(&request(), None).await.unwrap().outcome, Outcome::Ok);
    // Warm and nothing new: what does a check cost? Several checks, each counted on its
    // own; the median of each figure, and the CPU time of all of them together (the
    // process clock ticks in 10 ms steps, too coarse for one check).
    const RUNS: usize = 20;
    let mut figures: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut operations: BTreeMap<String, u64> = BTreeMap::new();
    let moto_port: u16 = w
        .stores
        ._moto
        .as_ref()
        .unwrap()
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let (ebox_connections, aws_connections) = (w.sim.connections_accepted(), connections_to(moto_port));
    let cpu = cpu_ms();
    for _ in 0..RUNS {
        w.sim.reset_counters();
        w.stores.requests.take();
        let report = w.fetcher.run(&request(), None).await.unwrap();
        assert_eq!((report.outcome, report.delivered), (Outcome::Ok, 0));
        let aws = w.stores.requests.take();
        let count = |s: &str| aws.get(s).copied().unwrap_or(0);
        let writes: u64 = aws
            .iter()
            .filter(|(op, _)| op.starts_with("dynamodb:") && !READS.iter().any(|r| op.ends_with(r)))
            .map(|(_, n)| n)
            .sum();
        for (name, value) in [
            ("ebox", w.sim.requests_of(ENTITY)),
            ("secretsmanager", count("secretsmanager")),
            ("dynamodb", count("dynamodb")),
            ("writes", writes),
            ("s3", count("s3")),
        ] {
            figures.entry(name).or_default().push(value);
        }
        for (op, n) in aws.iter().filter(|(op, _)| op.starts_with("dynamodb:")) {
            *operations.entry(op.clone()).or_default() += n;
        }
    }
    let cpu_per_run = (cpu_ms() - cpu) / RUNS as f64;
    let new_ebox = w.sim.connections_accepted() - ebox_connections;
    let new_aws = connections_to(moto_port).difference(&aws_connections).count();
    let median = |name: &str| {
        let mut v = figures[name].clone();
        v.sort_unstable();
        v[v.len() / 2]
    };
    let at_most = |name: &str, figure: &str, limit: u64| Row {
        name: name.into(),
        value: median(figure).to_string(),
        goal: if limit == 0 { "0".into() } else { format!("<= {limit}") },
        met: median(figure) <= limit,
    };
    let operations: Vec<String> = operations
        .iter()
        .map(|(op, n)| format!("{} {:.1}", op.trim_start_matches("dynamodb:"), *n as f64 / RUNS as f64))
        .collect();
    vec![
        at_most("idle run: e-Box requests (2 active providers)", "ebox", 2),
        at_most("idle run: Secrets Manager requests", "secretsmanager", 0),
        at_most("idle run: DynamoDB requests", "dynamodb", 2),
        Row {
            name: format!("  of which, a run on average: {}", operations.join(", ")),
            value: String::new(),
            goal: String::new(),
            met: true,
        },
        Row {
            name: format!(
                "  and, once per status interval ({} min), one PutItem of the status",
                w.fetcher.settings.status_interval.num_minutes()
            ),
            value: String::new(),
            goal: String::new(),
            met: true,
        },
        at_most("idle run: DynamoDB writes", "writes", 0),
        at_most("idle run: S3 requests", "s3", 0),
        Row {
            name: format!("new connections in {RUNS} idle runs: e-Box / AWS (each a TLS handshake in production)"),
            value: format!("{new_ebox} / {new_aws}"),
            goal: "0 / 0".into(),
            met: new_ebox == 0 && new_aws == 0,
        },
        Row {
            name: format!("idle run: CPU time (mean of {RUNS}, client side incl. SDK)"),
            value: format!("{cpu_per_run:.1} ms"),
            goal: String::new(),
            met: true,
        },
    ]
}

/// Local ports of this machine's established TCP connections to `port`: the client ends
/// of connections to it (loopback only here, so all of them this process's).
fn connections_to(port: u16) -> std::collections::BTreeSet<u16> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .flat_map(|path| {
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .lines()
                .skip(1)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port_of = |a: &str| a.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
            let (local, remote, state) = (fields.get(1)?, fields.get(2)?, fields.get(3)?);
            (*state == "01" && port_of(remote) == Some(port))
                .then(|| port_of(local))
                .flatten()
        })
        .collect()
}

/// DynamoDB operations that write nothing.
const READS: &[&str] = &["GetItem", "Query", "BatchGetItem", "Scan"];

async fn memory() -> Vec<Row> {
    let w = world(true, 0).await;
    let spec = json!({"message_id": "big", "attachments": [{"file_name": "big.pdf", "size": 200_000_000u64, "main_content": true}]});
    let message = serde_json::from_value::<ebox_sim::control::MessageSpec>(spec)
        .unwrap()
        .into_message(w.sim.now())
        .unwrap();
    w.sim.add_message("ebox-enterprise", ENTITY, message);
    let before = rss();
    let report = w.fetcher.run(&request(), None).await.unwrap();
    assert_eq!(report.delivered, 1, "{report:?}");
    let after_delivery = rss();
    let peak = peak_rss();
    let idle_started = rss();
    w.fetcher.run(&request(), None).await.unwrap();
    let idle = rss().max(idle_started);
    let mb = |b: u64| b as f64 / 1e6;
    vec![
        Row {
            name: "peak RSS delivering one 200 MB attachment (sim in-process)".into(),
            value: format!("{:.1} MB", mb(peak)),
            goal: "<= 32 MB".into(),
            met: mb(peak) <= 32.0,
        },
        Row {
            name: "RSS before / after that delivery".into(),
            value: format!("{:.1} / {:.1} MB", mb(before), mb(after_delivery)),
            goal: "".into(),
            met: true,
        },
        Row {
            name: "RSS after an idle run (warm; with the simulator and moto client)".into(),
            value: format!("{:.1} MB", mb(idle)),
            goal: "(the fetch process alone: below)".into(),
            met: true,
        },
    ]
}

async fn fanout(connections: u64) -> (f64, f64) {
    // An Invoke endpoint that answers in 20 ms.
    let app = axum::Router::new().route(
        "/2015-03-31/functions/{name}/invocations",
        axum::routing::post(|| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            (axum::http::StatusCode::ACCEPTED, "")
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let sdk = delivery::aws::load_for_endpoint(&url, "eu-west-1").await;
    let clients = AwsClients::new(&sdk);
    let store = Arc::new(MemoryConnections::default());
    for n in 0..connections {
        let base = 10_000_000 + n;
        let id = EntityId::parse(&format!("{base:08}{:02}", 97 - base % 97)).unwrap();
        store
            .put(&Connection::new(
                id,
                "",
                CredentialsRef::Secret {
                    secret_id: String::new(),
                },
                chrono::Utc::now(),
            ))
            .await
            .unwrap();
    }
    let fanout = delivery::fanout::Fanout {
        connections: store,
        dispatcher: Arc::new(delivery::aws::LambdaDispatcher::new(clients.lambda.clone(), "fetch")),
        settings: delivery::fanout::FanoutSettings::default(),
    };
    let before = rss();
    let started = Instant::now();
    let report = fanout.run(&delivery::fanout::Trigger::All).await.unwrap();
    let took = started.elapsed().as_secs_f64();
    assert_eq!(report.dispatched, connections, "{:?}", report.failed.first());
    (took, (peak_rss().saturating_sub(before)) as f64 / 1e6)
}

/// Runs the fetch binary of this profile as Lambda would, through a fake runtime API that
/// hands it events, and reads its own memory figures from /proc.
async fn process() -> Vec<Row> {
    use axum::extract::{Path, State};
    use axum::routing::{get, post};
    let moto = testkit::MotoServer::start();
    let clients = moto.clients().await;
    let names = moto.fresh_storage(&clients).await;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let key = key("bench");
    sim.register("bench", ENTITY, &key.certificate_pem).unwrap();
    let spec = json!({"message_id": "big", "attachments": [{"file_name": "big.pdf", "size": 200_000_000u64, "main_content": true}]});
    sim.add_message(
        "ebox-enterprise",
        ENTITY,
        serde_json::from_value::<ebox_sim::control::MessageSpec>(spec)
            .unwrap()
            .into_message(sim.now())
            .unwrap(),
    );
    let secret =
        json!({"client_id": "bench", "private_key_pem": key.private_key_pem, "certificate_pem": key.certificate_pem});
    clients
        .secrets
        .create_secret()
        .name("bench-secret")
        .secret_string(secret.to_string())
        .send()
        .await
        .unwrap();
    let id = EntityId::parse(ENTITY).unwrap();
    delivery::aws::DynamoConnections::new(clients.dynamodb.clone(), &names.connections_table)
        .put(&bench_connection(id))
        .await
        .unwrap();

    // The runtime API: three times the same event; each answer is announced on a channel.
    type Shared = (Mutex<Vec<String>>, tokio::sync::mpsc::UnboundedSender<String>);
    let (answered, mut answers) = tokio::sync::mpsc::unbounded_channel::<String>();
    let events: Arc<Shared> = Arc::new((Mutex::new(vec![json!({"entity_id": ENTITY}).to_string(); 3]), answered));
    let app = axum::Router::new()
        .route(
            "/2018-06-01/runtime/invocation/next",
            get(|State(events): State<Arc<Shared>>| async move {
                let next = events.0.lock().unwrap().pop();
                match next {
                    Some(event) => {
                        let deadline = chrono::Utc::now().timestamp_millis() + 900_000;
                        (
                            [
                                ("lambda-runtime-aws-request-id", uuid_like()),
                                ("lambda-runtime-deadline-ms", deadline.to_string()),
                                (
                                    "lambda-runtime-invoked-function-arn",
                                    "arn:aws:lambda:eu-west-1:0:function:fetch".to_string(),
                                ),
                                ("lambda-runtime-trace-id", "Root=1-0-0".to_string()),
                            ],
                            event,
                        )
                    }
                    None => std::future::pending().await,
                }
            }),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/{kind}",
            post(
                |State(events): State<Arc<Shared>>, Path((_, kind)): Path<(String, String)>, body: String| async move {
                    let _ = events.1.send(format!("{kind}: {body}"));
                    axum::http::StatusCode::ACCEPTED
                },
            ),
        )
        .with_state(events);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runtime_api = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let binary = shipped("fetch");
    let mut child = tokio::process::Command::new(&binary)
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "fetch")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_ENDPOINT_URL", &moto.url)
        .envs(
            std::env::var("BENCH_MALLOC_ARENA_MAX")
                .ok()
                .map(|v| ("MALLOC_ARENA_MAX", v)),
        )
        .env("AWS_REGION", testkit::REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("CONNECTIONS_TABLE", &names.connections_table)
        .env("STATE_TABLE", &names.state_table)
        .env("VERDEELBAK_BUCKET", &names.verdeelbak_bucket)
        .env("EBOX_TOKEN_URL", sim.token_url())
        .env("EBOX_AUDIENCE", sim.audience())
        .env("EBOX_PROVIDER_REGISTRY_URL", sim.provider_registry_url())
        .env("EBOX_SCOPES", scopes().join(" "))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let status_kb = |field: &str| -> f64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1000.0
    };
    let mut figures = Vec::new();
    for _ in 0..3 {
        let answer = tokio::time::timeout(Duration::from_secs(600), answers.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(answer.starts_with("response"), "{answer}");
        figures.push((status_kb("VmHWM:"), status_kb("VmRSS:"), answer, process_cpu_ms(pid)));
    }
    let (anon, file) = (status_kb("RssAnon:"), status_kb("RssFile:"));
    let _ = child.kill().await;
    let delivered = figures[0].2.contains("\"delivered\":1");
    vec![
        Row {
            name: "fetch process: peak RSS, delivering one 200 MB attachment".into(),
            value: format!("{:.1} MB", figures[0].0),
            goal: "<= 32 MB".into(),
            met: delivered && figures[0].0 <= 32.0,
        },
        Row {
            name: "fetch process: CPU time of that delivery (first run, incl. start)".into(),
            value: format!("{:.0} ms", figures[0].3),
            goal: String::new(),
            met: true,
        },
        Row {
            name: "fetch process: RSS after two idle runs (warm)".into(),
            value: format!("{:.1} MB", figures[2].1),
            goal: "<= 16 MB".into(),
            met: figures[2].1 <= 16.0,
        },
        Row {
            name: "  of which heap and stacks / mapped code and data of the binary".into(),
            value: format!("{anon:.1} / {file:.1} MB"),
            goal: String::new(),
            met: true,
        },
    ]
}

/// User and system CPU time of a process so far (clock ticks of 10 ms).
fn process_cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) * 10.0
}

/// A function's binary as it ships: the release profile (built for this machine; `make
/// build` makes the arm64 one), beside this profile's directory.
fn shipped(function: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let binary = exe.parent().unwrap().parent().unwrap().join("release").join(function);
    assert!(
        binary.exists(),
        "{} is missing: `cargo build --release -p {function}` (make bench does)",
        binary.display()
    );
    binary
}

fn uuid_like() -> String {
    format!(
        "{:032x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// From process start to its first request for an event, through a fake runtime API.
async fn start() -> Vec<Row> {
    let mut rows = Vec::new();
    for function in ["fetch", "fanout"] {
        let binary = shipped(function);
        let mut samples = Vec::new();
        for _ in 0..7 {
            let (tx, rx) = tokio::sync::oneshot::channel::<Instant>();
            let tx = Arc::new(Mutex::new(Some(tx)));
            let app = axum::Router::new().route(
                "/2018-06-01/runtime/invocation/next",
                axum::routing::get(move || {
                    let tx = tx.clone();
                    async move {
                        if let Some(tx) = tx.lock().unwrap().take() {
                            let _ = tx.send(Instant::now());
                        }
                        // Never answer: the function waits for an event that does not come.
                        std::future::pending::<()>().await;
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            let started = Instant::now();
            let mut child = tokio::process::Command::new(&binary)
                .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
                .env("AWS_LAMBDA_FUNCTION_NAME", function)
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
                .env("AWS_REGION", "eu-west-1")
                .env("AWS_ACCESS_KEY_ID", "x")
                .env("AWS_SECRET_ACCESS_KEY", "x")
                .envs([
                    ("CONNECTIONS_TABLE", "c"),
                    ("STATE_TABLE", "s"),
                    ("VERDEELBAK_BUCKET", "b"),
                    ("FETCH_FUNCTION_NAME", "fetch"),
                    ("EBOX_TOKEN_URL", "https://e.invalid/token"),
                    ("EBOX_AUDIENCE", "https://e.invalid/token"),
                    ("EBOX_PROVIDER_REGISTRY_URL", "https://e.invalid/providers"),
                    ("EBOX_SCOPES", "a b"),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let ready = tokio::time::timeout(Duration::from_secs(10), rx)
                .await
                .expect("ready in time")
                .unwrap();
            samples.push((ready - started).as_secs_f64() * 1000.0);
            let _ = child.kill().await;
            server.abort();
        }
        let ms = median(samples);
        rows.push(Row {
            name: format!("{function}: process start to first /invocation/next"),
            value: format!("{ms:.1} ms"),
            goal: "<= 10 ms".into(),
            met: ms <= 10.0,
        });
    }
    rows
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let scenario = std::env::args().nth(1).unwrap_or_default();
    match scenario.as_str() {
        "throughput" => {
            let rows = throughput_rows().await;
            print_rows(
                "fetch throughput (one entity, two 100 kB attachments a message, 8 in flight; median of 3)",
                &rows,
            );
        }
        "idle" => print_rows("idle entity, warm process, moto stores", &idle().await),
        "memory" => print_rows("fetch memory (moto S3, simulator in-process)", &memory().await),
        "fanout" => {
            let (small, small_mb) = fanout(1_000).await;
            let (large, large_mb) = fanout(10_000).await;
            let limit = 10_000.0 * 0.020 / 64.0;
            print_rows(
                "fanout (Invoke endpoint answering in 20 ms, 64 in flight, connections in memory)",
                &[
                    Row {
                        name: "dispatch 10,000 connections".into(),
                        value: format!("{large:.2} s"),
                        goal: format!("<= 1.2 x {limit:.2} s"),
                        met: large <= 1.2 * limit,
                    },
                    Row {
                        name: "dispatch 1,000 connections".into(),
                        value: format!("{small:.2} s"),
                        goal: "".into(),
                        met: true,
                    },
                    Row {
                        name: "peak RSS growth: 1,000 / 10,000 connections".into(),
                        value: format!("{small_mb:.1} / {large_mb:.1} MB"),
                        goal: "flat (store excluded)".into(),
                        met: true,
                    },
                ],
            );
        }
        "process" => print_rows(
            "the fetch process itself (release build for this machine; moto and the simulator outside it)",
            &process().await,
        ),
        "start" => print_rows(
            "start to ready (release build for this machine, fake Lambda runtime API)",
            &start().await,
        ),
        other => {
            eprintln!("usage: system throughput|idle|memory|fanout|process|start (got {other:?})");
            std::process::exit(2);
        }
    }
}
