//! Real local services for tests: a moto server for S3, DynamoDB and Secrets Manager.
//!
//! Each server runs on a free loopback port, is waited for by polling (never a fixed
//! sleep), and is stopped by its own process id when its handle is dropped, also when the
//! test panics. Should the test process die without unwinding, the server still goes: it
//! watches its stdin, a pipe from the test process, and exits when that closes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod backend;
pub mod events;
pub mod fault_proxy;
pub mod log_capture;
pub mod memory;
pub mod server_thread;
pub mod tls;
pub mod twin;
pub mod verdeelbak;

use delivery::aws::AwsClients;
use delivery::config::StorageNames;

pub const REGION: &str = "eu-west-1";

/// The SDK configuration production loads, pointed at one endpoint (a local moto server
/// or the fault proxy in front of it), with fixed test credentials.
pub async fn sdk_for(endpoint_url: &str) -> aws_config::SdkConfig {
    let credentials = aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "static");
    delivery::aws::loader()
        .endpoint_url(endpoint_url)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(credentials)
        .load()
        .await
}

/// The workspace root, found from this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root exists")
}

/// A program of the project's tool virtualenv (`make tools` creates it).
pub fn venv_bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("DIGIPOST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv"));
    let path = dir.join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `make tools` (or `make test`) to create the project's virtualenv",
        path.display()
    );
    path
}

/// A name no other test uses, for tables and buckets.
pub fn unique_name(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Polls `GET path` until it answers 200, the child exits, or `limit` passes.
pub fn wait_for_http(child: &mut Child, addr: SocketAddr, path: &str, limit: Duration) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("process exited before it was ready ({status})"));
        }
        if http_ok(addr, path) {
            return Ok(());
        }
        if started.elapsed() > limit {
            return Err(format!("not ready after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn http_ok(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

/// Where a moto server shared by every test of a run listens, when one is (`make test`
/// starts one: `.ci/with-moto`). Tests then make fresh tables, buckets and secret names
/// of their own on it instead of starting a server each.
pub const SHARED_MOTO: &str = "DIGIPOST_MOTO_URL";

/// A moto server: the run's shared one, or one of this test's own.
pub struct MotoServer {
    /// None for the shared server, which the run stops.
    child: Option<Child>,
    pub url: String,
}

impl MotoServer {
    /// The shared server when the run has one, else a new one of this test's own.
    pub fn start() -> Self {
        match std::env::var(SHARED_MOTO) {
            Ok(url) if !url.is_empty() => Self { child: None, url },
            _ => Self::start_own(),
        }
    }

    /// A new server of this test's own, stopped by its pid when dropped.
    pub fn start_own() -> Self {
        Self::start_own_with(&[])
    }

    /// A new server of this test's own with `env` set for it (moto's settings, such as
    /// `INITIAL_NO_AUTH_ACTION_COUNT`, which makes it check every later request's
    /// signature), stopped by its pid when dropped.
    pub fn start_own_with(env: &[(&str, &str)]) -> Self {
        let python = venv_bin("python");
        let mut last_error = String::new();
        // A port found free can be taken by another test before moto binds it; try again.
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(&python)
                .arg("-c")
                .arg(MOTO_LAUNCHER)
                .arg(port.to_string())
                .envs(env.iter().copied())
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto server");
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            match wait_for_http(&mut child, addr, "/moto-api/", Duration::from_secs(60)) {
                Ok(()) => {
                    return Self {
                        child: Some(child),
                        url: format!("http://{addr}"),
                    };
                }
                Err(e) => {
                    last_error = e;
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        panic!("moto server did not start: {last_error}");
    }

    /// Its pid, when it is this test's own.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Clients for this server, built the way production builds them.
    pub async fn clients(&self) -> AwsClients {
        AwsClients::new(&sdk_for(&self.url).await)
    }

    /// Fresh tables and bucket, created by the project's own bootstrap.
    pub async fn fresh_storage(&self, clients: &AwsClients) -> StorageNames {
        let names = StorageNames {
            connections_table: unique_name("connections"),
            state_table: unique_name("state"),
            verdeelbak_bucket: unique_name("verdeelbak"),
            event_bus: unique_name("events"),
        };
        delivery::aws::bootstrap::ensure_resources(clients, &names)
            .await
            .expect("bootstrap tables and bucket");
        names
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs moto in-process and exits as soon as stdin (a pipe from the test) closes.
const MOTO_LAUNCHER: &str = r#"
import os, sys, threading
def watch():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
from moto.server import main
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"#;

/// An RSA key and a self-signed certificate, made at test time (never committed).
pub struct KeyMaterial {
    pub private_key_pem: String,
    pub certificate_pem: String,
}

impl KeyMaterial {
    pub fn generate(common_name: &str) -> Self {
        Self::generate_valid_until(common_name, (2040, 1, 1))
    }

    pub fn generate_valid_until(common_name: &str, (year, month, day): (i32, u8, u8)) -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("generate RSA key");
        let mut params = rcgen::CertificateParams::new(vec![common_name.to_owned()]).expect("certificate params");
        params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(year, month, day);
        let cert = params.self_signed(&key).expect("self-sign certificate");
        Self {
            private_key_pem: key.serialize_pem(),
            certificate_pem: cert.pem(),
        }
    }

    /// The e-Box client's credentials for `client_id` with this key.
    pub fn credentials(&self, client_id: &str) -> ebox::ClientCredentials {
        let key = ebox::KeyMaterial::from_pem(&self.private_key_pem, &self.certificate_pem).expect("a valid key");
        ebox::ClientCredentials {
            client_id: client_id.into(),
            key: std::sync::Arc::new(key),
        }
    }
}

/// `cargo lambda watch`: the functions run the way Lambda runs them, built from this
/// workspace, invoked over the Lambda Invoke API. Stopped by its process group id.
pub struct LambdaWatch {
    child: Child,
    pub url: String,
    pub log: PathBuf,
}

impl LambdaWatch {
    /// Starts the emulator with these environment variables for the functions.
    pub fn start(env: &[(&str, String)]) -> Self {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let log = std::env::temp_dir().join(format!("lambda-watch-{port}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let venv_bin = venv_bin("cargo-lambda").parent().unwrap().to_path_buf();
        let path = format!("{}:{}", venv_bin.display(), std::env::var("PATH").unwrap_or_default());
        let mut command = Command::new(venv_bin.join("cargo-lambda"));
        command
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .current_dir(workspace_root())
            .env("PATH", path)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            // Its own process group, so that the functions it starts stop with it.
            .process_group(0);
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        // A function that invokes another (fanout -> fetch) reaches it here.
        command.env("AWS_ENDPOINT_URL_LAMBDA", format!("http://{addr}"));
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start cargo lambda watch");
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("cargo lambda watch exited ({status}); see {}", log.display());
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "cargo lambda watch not listening; see {}",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            url: format!("http://{addr}"),
            log,
        }
    }

    pub fn invoke_url(&self, function: &str) -> String {
        format!("{}/2015-03-31/functions/{function}/invocations", self.url)
    }

    /// Where the emulator answers HTTP requests as the function's URL would, at `path`.
    pub fn function_url(&self, function: &str, path: &str) -> String {
        format!("{}/lambda-url/{function}{path}", self.url)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for LambdaWatch {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// The environment a process of the project (the CLI, a function) reads, for tables and
/// bucket `names` on the AWS endpoint `aws_url` (moto, or a proxy in front of it) and the
/// simulator `sim` as e-Box. Whatever else a test sets (scopes, lease, prefixes) is its own.
pub fn process_env(aws_url: &str, names: &StorageNames, sim: &ebox_sim::Shared) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", aws_url.to_owned()),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("CONNECTIONS_TABLE", names.connections_table.clone()),
        ("STATE_TABLE", names.state_table.clone()),
        ("VERDEELBAK_BUCKET", names.verdeelbak_bucket.clone()),
        ("EVENT_BUS_NAME", names.event_bus.clone()),
        ("EBOX_TOKEN_URL", sim.token_url()),
        ("EBOX_AUDIENCE", sim.audience()),
        ("EBOX_PROVIDER_REGISTRY_URL", sim.provider_registry_url()),
    ]
}

/// The client configuration for the simulator, with short backoffs for tests, naming no
/// scope (as by default: the token carries what the client was granted).
pub fn sim_ebox_config(sim: &ebox_sim::Shared) -> ebox::EboxConfig {
    let mut config = ebox::EboxConfig::new(
        &sim.token_url(),
        &sim.audience(),
        Vec::new(),
        &sim.provider_registry_url(),
    );
    config.min_backoff = Duration::from_millis(5);
    config.max_backoff = Duration::from_millis(50);
    config
}
