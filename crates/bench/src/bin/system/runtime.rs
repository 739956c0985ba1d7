//! The Lambda runtime API, faked for a function's process, and how such a process is
//! started.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot};

/// A runtime API on a port of its own, for as long as this lives. It hands out the events
/// it was given, one to each request for the next; after them a request for the next waits
/// for one [`FakeRuntime::push`]es. It tells when the first request for an event came, and
/// every answer.
pub struct FakeRuntime {
    /// Host and port, as `AWS_LAMBDA_RUNTIME_API` takes them.
    pub addr: String,
    first_next: Option<oneshot::Receiver<Instant>>,
    answers: mpsc::UnboundedReceiver<String>,
    server: tokio::task::JoinHandle<()>,
    shared: Arc<Shared>,
}

struct Shared {
    /// Events yet to hand out, the next one last.
    events: Mutex<Vec<String>>,
    first_next: Mutex<Option<oneshot::Sender<Instant>>>,
    answered: mpsc::UnboundedSender<String>,
    pushed: tokio::sync::Notify,
}

impl FakeRuntime {
    /// `events` in the order they are handed out.
    pub async fn start(mut events: Vec<String>) -> FakeRuntime {
        events.reverse();
        let (first_next, first_next_rx) = oneshot::channel();
        let (answered, answers) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: Mutex::new(events),
            first_next: Mutex::new(Some(first_next)),
            answered,
            pushed: tokio::sync::Notify::new(),
        });
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(answer))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeRuntime {
            addr,
            first_next: Some(first_next_rx),
            answers,
            server,
            shared,
        }
    }

    /// One more event, handed out next.
    pub fn push(&self, event: String) {
        self.shared.events.lock().unwrap().insert(0, event);
        self.shared.pushed.notify_one();
    }

    /// When the function first asked for an event; it must within `limit`.
    pub async fn first_next(&mut self, limit: Duration) -> Instant {
        let first = self.first_next.take().expect("asked once");
        tokio::time::timeout(limit, first)
            .await
            .expect("ready in time")
            .unwrap()
    }

    /// The function's next answer, `response: {body}` or `error: {body}`; it must come
    /// within `limit`.
    pub async fn answer(&mut self, limit: Duration) -> String {
        tokio::time::timeout(limit, self.answers.recv()).await.unwrap().unwrap()
    }
}

/// The report of a fetch run in its function's answer (`response: {report}`); `None` for
/// an error answer, or a body that is not a fetch run's report.
pub fn fetch_report(answer: &str) -> Option<delivery::fetch::RunReport> {
    serde_json::from_str(answer.strip_prefix("response: ")?).ok()
}

impl Drop for FakeRuntime {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> ([(&'static str, String); 4], String) {
    if let Some(first) = shared.first_next.lock().unwrap().take() {
        let _ = first.send(Instant::now());
    }
    // No event yet: the function waits for one to be pushed.
    let event = loop {
        let pushed = shared.pushed.notified();
        if let Some(event) = shared.events.lock().unwrap().pop() {
            break event;
        }
        pushed.await;
    };
    let deadline = chrono::Utc::now().timestamp_millis() + 900_000;
    let headers = [
        ("lambda-runtime-aws-request-id", uuid_like()),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:eu-west-1:0:function:fetch".to_string(),
        ),
        ("lambda-runtime-trace-id", "Root=1-0-0".to_string()),
    ];
    (headers, event)
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    UrlPath((_, kind)): UrlPath<(String, String)>,
    body: String,
) -> StatusCode {
    let _ = shared.answered.send(format!("{kind}: {body}"));
    StatusCode::ACCEPTED
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

/// A function's binary as it ships: the release profile (built for this machine; `make
/// build` makes the arm64 one), beside this profile's directory.
pub fn shipped(function: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let binary = exe.parent().unwrap().parent().unwrap().join("release").join(function);
    assert!(
        binary.exists(),
        "{} is missing: `cargo build --release -p {function}` (make bench does)",
        binary.display()
    );
    binary
}

/// `binary` as Lambda starts `function`, against `runtime`, quiet, and killed when dropped.
/// What the function itself reads from its environment is the caller's to add.
pub fn function_command(binary: &Path, function: &str, runtime: &FakeRuntime) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary);
    command
        // Lambda's environment names no trust store, so the process finds the system's
        // (`ebox::roots`); a machine's own settings are not the function's.
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env("AWS_LAMBDA_RUNTIME_API", &runtime.addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        // As `infra/` configures the functions' logs: one JSON object a line, at INFO.
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}
