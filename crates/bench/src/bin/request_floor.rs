//! The CPU one request costs this process before the other side does anything: an AWS
//! call through the SDK as the functions build it (a DynamoDB PutItem, signed), and a
//! plain HTTP POST (reqwest, as the e-Box client sends), both to a local server on
//! another thread that answers at once. Times the requests a message needs, this is the
//! floor of a message's CPU before any of its bytes are moved. And an attachment's
//! `PutObject` both ways: through the SDK, and as the S3 adapter sends it.

use bench::{Row, print_rows};

/// Requests in a round; the median of the rounds is reported.
const REQUESTS: u32 = 2_000;
const ROUNDS: usize = 5;

/// CPU time of the calling thread so far, in nanoseconds (the scheduler's own count).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Serves every request with an empty JSON answer, on a thread (and runtime) of its own.
fn answering_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    listener.set_nonblocking(true).expect("non-blocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the server's runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("the listener");
            let app = axum::Router::new()
                .fallback(|_: axum::body::Bytes| async { ([("content-type", "application/x-amz-json-1.0")], "{}") });
            axum::serve(listener, app).await.expect("serve");
        });
    });
    addr
}

/// Microseconds of CPU a request, median over the rounds.
async fn per_request<F: std::future::Future<Output = ()>>(mut request: impl FnMut(u32) -> F) -> f64 {
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let started = thread_cpu_ns();
        for i in 0..REQUESTS {
            request(i).await;
        }
        rounds.push((thread_cpu_ns() - started) as f64 / f64::from(REQUESTS) / 1000.0);
    }
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

/// 100 kB in two chunks, as an attachment arrives from e-Box.
fn attachment(data: &bytes::Bytes) -> futures::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>> {
    Box::pin(futures::stream::iter([
        Ok(data.slice(..65_536)),
        Ok(data.slice(65_536..)),
    ]))
}

/// Microseconds of CPU a PutObject of an attachment, by the S3 adapter: through the SDK's
/// pipeline (where the direct path cannot be taken), and as it writes otherwise.
async fn s3_puts(clients: &delivery::aws::AwsClients) -> (f64, f64) {
    use delivery::aws::S3Objects;
    use delivery::ports::{ObjectBody, ObjectStore, PutObject, sha256_of};
    let data = bytes::Bytes::from(vec![7u8; 100_000]);
    let sha256 = sha256_of(&data);
    let cpu = |objects: S3Objects| {
        let data = data.clone();
        async move {
            per_request(|i| {
                let put = PutObject {
                    key: format!("verdeelbak/0403170701/ebox/m{i}/attachments/a1/brief.pdf"),
                    body: ObjectBody::Stream {
                        length: 100_000,
                        chunks: attachment(&data),
                        checked: true,
                    },
                    sha256,
                    content_type: "application/pdf".into(),
                    if_absent: true,
                    metadata: vec![("message-id".into(), format!("m{i}"))],
                };
                let objects = &objects;
                async move {
                    objects.put(put).await.expect("the local server answers");
                }
            })
            .await
        }
    };
    let through_sdk = cpu(S3Objects::through_sdk(clients, "verdeelbak")).await;
    let direct = cpu(S3Objects::new(clients, "verdeelbak")).await;
    (through_sdk, direct)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let addr = answering_server();
    let sdk = delivery::aws::loader()
        .endpoint_url(format!("http://{addr}"))
        .region(aws_sdk_dynamodb::config::Region::new("eu-west-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::for_tests())
        .load()
        .await;
    let dynamodb = delivery::aws::AwsClients::new(&sdk).dynamodb;
    let aws = per_request(|i| {
        let put = dynamodb
            .put_item()
            .table_name("state")
            .item("pk", AttributeValue::S(format!("E#0403170701#{i}")))
            .item("sk", AttributeValue::S("LEDGER#ebox-enterprise#message".into()));
        async move {
            put.send().await.expect("the local server answers");
        }
    })
    .await;
    let clients = delivery::aws::AwsClients::new(&sdk);
    let (sdk_put, direct_put) = s3_puts(&clients).await;
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/");
    let plain = per_request(|_| {
        let post = http.post(&url).body("{}");
        async move {
            let answer = post.send().await.expect("the local server answers");
            answer.bytes().await.expect("its body");
        }
    })
    .await;
    let rows = [
        Row::figure(
            "an AWS request through the SDK (DynamoDB PutItem, signed)",
            format!("{aws:.0} us"),
        ),
        Row::figure("a plain HTTP request (reqwest POST)", format!("{plain:.0} us"))
            .goal("times a message's requests: its CPU floor"),
        Row::figure(
            "an S3 PutObject of 100 kB, streamed in two chunks, by the S3 adapter through the SDK",
            format!("{sdk_put:.0} us"),
        ),
        Row::figure(
            "  the same write as the S3 adapter sends it (signed by aws-sigv4, past the SDK's pipeline)",
            format!("{direct_put:.0} us"),
        )
        .goal("a message stores 3-4 objects"),
    ];
    print_rows(
        &format!(
            "the CPU of one request in this process, the server's excluded (median of {ROUNDS} rounds of {REQUESTS})"
        ),
        &rows,
    );
}
