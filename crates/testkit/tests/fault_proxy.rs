//! The fault proxy against a real moto: it forwards faithfully, and each fault does to the
//! AWS SDK what the real service's fault would. Effects are checked with a second set of
//! clients that talks to moto directly, past the proxy.
//!
//! The SDK's retry budget (`delivery::aws`) may change; these tests only assume it makes
//! at least 2 and fewer than 20 attempts: faults injected at most twice are ridden out,
//! 20 times exhaust it.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::put_object::PutObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use delivery::aws::AwsClients;
use delivery::config::StorageNames;
use delivery::schema::{STATE_PARTITION_KEY, STATE_SORT_KEY};
use testkit::MotoServer;
use testkit::fault_proxy::{Exchange, Fault, FaultProxy, Outcome, Rule};

/// Long enough for any retry budget the SDK may be given; only reached on failure.
const PATIENCE: Duration = Duration::from_secs(60);

/// A proxy in front of moto, clients through it, and clients straight to moto.
struct World {
    proxy: FaultProxy,
    via: AwsClients,
    direct: AwsClients,
    moto: MotoServer,
}

async fn world() -> World {
    let moto = MotoServer::start();
    let proxy = FaultProxy::start(&moto.url);
    let via = AwsClients::new(&testkit::sdk_for(&proxy.url()).await);
    let direct = moto.clients().await;
    World {
        proxy,
        via,
        direct,
        moto,
    }
}

async fn bucket(clients: &AwsClients) -> String {
    let name = testkit::unique_name("proxy");
    clients
        .s3
        .create_bucket()
        .bucket(&name)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(testkit::REGION))
                .build(),
        )
        .send()
        .await
        .expect("create bucket");
    name
}

type PutError = SdkError<PutObjectError, HttpResponse>;

async fn put(clients: &AwsClients, bucket: &str, key: &str, body: &str) -> Result<(), PutError> {
    clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .map(drop)
}

/// What the SDK reports when the proxy drops a connection: a dispatch failure of kind I/O
/// (which it retries), caused by a TCP reset.
fn is_connection_reset(err: &PutError) -> bool {
    let SdkError::DispatchFailure(failure) = err else {
        return false;
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = failure.as_connector_error().map(|e| e as _);
    let reset = std::iter::from_fn(|| {
        let current = source?;
        source = current.source();
        Some(current)
    })
    .any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == ErrorKind::ConnectionReset)
    });
    failure.is_io() && reset
}

/// The object's body as moto holds it, or `None` when there is none.
async fn object(clients: &AwsClients, bucket: &str, key: &str) -> Option<String> {
    match clients.s3.get_object().bucket(bucket).key(key).send().await {
        Ok(object) => {
            let bytes = object.body.collect().await.expect("read object body").into_bytes();
            Some(String::from_utf8(bytes.to_vec()).expect("utf-8 object"))
        }
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => None,
        Err(e) => panic!("get object {bucket}/{key}: {e:?}"),
    }
}

/// The log's entries for one operation, as (target, status, outcome).
fn entries(log: &[Exchange], operation: &str) -> Vec<(String, Option<u16>, Outcome)> {
    log.iter()
        .filter(|e| e.operation == operation)
        .map(|e| (e.target.clone(), e.status, e.outcome.clone()))
        .collect()
}

fn injected(name: &str) -> Outcome {
    Outcome::Injected(name.to_owned())
}

fn state_item(pk: &str, sk: &str) -> [(String, AttributeValue); 2] {
    [
        (STATE_PARTITION_KEY.to_owned(), AttributeValue::S(pk.to_owned())),
        (STATE_SORT_KEY.to_owned(), AttributeValue::S(sk.to_owned())),
    ]
}

/// The sort keys moto holds under one partition key.
async fn sort_keys(clients: &AwsClients, table: &str, pk: &str) -> Vec<String> {
    let page = clients
        .dynamodb
        .query()
        .table_name(table)
        .key_condition_expression(format!("{STATE_PARTITION_KEY} = :pk"))
        .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
        .send()
        .await
        .expect("query moto directly");
    let sort_key = |item: &std::collections::HashMap<String, AttributeValue>| {
        item[STATE_SORT_KEY].as_s().expect("string sort key").clone()
    };
    page.items().iter().map(sort_key).collect()
}

#[tokio::test]
async fn forwards_requests_and_logs_operations_and_targets() {
    let w = world().await;
    let names = StorageNames {
        connections_table: testkit::unique_name("connections"),
        state_table: testkit::unique_name("state"),
        verdeelbak_bucket: testkit::unique_name("verdeelbak"),
        event_bus: testkit::unique_name("events"),
    };
    let done = delivery::aws::bootstrap::ensure_resources(&w.via, &names)
        .await
        .expect("bootstrap through the proxy");
    assert_eq!(done.created.len(), 4, "{done:?}");
    let bucket = names.verdeelbak_bucket.as_str();
    let key = "inbox/ä b+c.eml";
    put(&w.via, bucket, key, "hello").await.expect("put through the proxy");
    assert_eq!(object(&w.via, bucket, key).await.as_deref(), Some("hello"));
    let head = w
        .via
        .s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_length(), Some(5), "a HEAD answer keeps moto's length");
    let listed = w.via.s3.list_objects_v2().bucket(bucket).send().await.expect("list");
    assert_eq!(listed.contents()[0].key(), Some(key));
    // What went through the proxy really is in moto.
    assert_eq!(object(&w.direct, bucket, key).await.as_deref(), Some("hello"));
    let table = w
        .direct
        .dynamodb
        .describe_table()
        .table_name(&names.state_table)
        .send()
        .await;
    assert!(table.is_ok(), "{table:?}");

    let log = w.proxy.log();
    assert!(log.iter().enumerate().all(|(i, e)| e.seq == i as u64), "{log:#?}");
    assert!(log.iter().all(|e| e.outcome == Outcome::Forwarded), "{log:#?}");
    let created: Vec<String> = entries(&log, "dynamodb:CreateTable").into_iter().map(|e| e.0).collect();
    assert_eq!(created, [names.connections_table.clone(), names.state_table.clone()]);
    let ttl = entries(&log, "dynamodb:UpdateTimeToLive");
    assert_eq!(ttl, [(names.state_table.clone(), Some(200), Outcome::Forwarded)]);
    let object_entry = |status| vec![(format!("{bucket}/{key}"), Some(status), Outcome::Forwarded)];
    assert_eq!(
        entries(&log, "s3:CreateBucket"),
        [(bucket.to_owned(), Some(200), Outcome::Forwarded)]
    );
    assert_eq!(entries(&log, "s3:PutBucketVersioning").len(), 1);
    assert_eq!(entries(&log, "s3:PutObject"), object_entry(200));
    assert_eq!(entries(&log, "s3:GetObject"), object_entry(200));
    assert_eq!(entries(&log, "s3:HeadObject"), object_entry(200));
    assert_eq!(
        entries(&log, "s3:ListObjectsV2"),
        [(bucket.to_owned(), Some(200), Outcome::Forwarded)]
    );
    assert_eq!((w.proxy.injected(), w.proxy.count("s3:PutObject")), (0, 1));
    assert_eq!(w.proxy.count("dynamodb:*"), 3);
    assert_eq!(w.proxy.count("*"), log.len());
}

#[tokio::test]
async fn throttled_put_item_is_ridden_out_and_lands_once() {
    let w = world().await;
    let names = w.moto.fresh_storage(&w.direct).await;
    let table = names.state_table.as_str();
    let rule = Rule::on("dynamodb:PutItem").containing("LEDGER#").times(2);
    w.proxy.inject(rule.fault(Fault::Throttle));
    for sk in ["LAST_RUN", "LEDGER#0001"] {
        w.via
            .dynamodb
            .put_item()
            .table_name(table)
            .set_item(Some(state_item("entity#1", sk).into()))
            .send()
            .await
            .expect("put item: the SDK rides out two throttles");
    }
    assert_eq!(
        sort_keys(&w.direct, table, "entity#1").await,
        ["LAST_RUN", "LEDGER#0001"]
    );
    let puts = entries(&w.proxy.log(), "dynamodb:PutItem");
    let forwarded = (table.to_owned(), Some(200), Outcome::Forwarded);
    let throttled = (table.to_owned(), None, injected("Throttle"));
    assert_eq!(puts, [forwarded.clone(), throttled.clone(), throttled, forwarded]);
    assert_eq!((w.proxy.injected(), w.proxy.count("dynamodb:PutItem")), (2, 2));
}

#[tokio::test]
async fn lasting_throttling_fails_with_the_services_own_code() {
    let w = world().await;
    let names = w.moto.fresh_storage(&w.direct).await;
    let table = names.state_table.as_str();
    w.proxy.inject(
        Rule::on("dynamodb:PutItem")
            .containing(table)
            .times(20)
            .fault(Fault::Throttle),
    );
    let err = w
        .via
        .dynamodb
        .put_item()
        .table_name(table)
        .set_item(Some(state_item("entity#2", "LEDGER#0001").into()))
        .send()
        .await
        .expect_err("20 throttles exhaust the retries");
    assert_eq!(err.code(), Some("ThrottlingException"), "{err:?}");
    assert!(sort_keys(&w.direct, table, "entity#2").await.is_empty());
    let attempts = w.proxy.injected();
    assert!(
        (2..20).contains(&attempts),
        "the SDK retried a throttle: {attempts} attempts"
    );
    assert_eq!(w.proxy.count("dynamodb:PutItem"), 0);
}

#[tokio::test]
async fn lost_answers_write_to_moto_though_the_sdk_never_hears_back() {
    let w = world().await;
    let bucket = bucket(&w.direct).await;
    w.proxy
        .inject(Rule::on("s3:PutObject").times(20).fault(Fault::LostAnswer));
    let err = put(&w.via, &bucket, "lost.eml", "written")
        .await
        .expect_err("no answer ever arrives");
    assert!(is_connection_reset(&err), "{err:?}");
    assert_eq!(object(&w.direct, &bucket, "lost.eml").await.as_deref(), Some("written"));
    let puts = entries(&w.proxy.log(), "s3:PutObject");
    assert!((2..20).contains(&puts.len()), "the SDK retried a lost answer: {puts:?}");
    let lost = (format!("{bucket}/lost.eml"), Some(200), Outcome::LostAnswer);
    assert!(puts.iter().all(|p| *p == lost), "{puts:?}");
    assert_eq!(w.proxy.injected(), puts.len());
    assert_eq!(w.proxy.count("s3:PutObject"), puts.len(), "each attempt took effect");
}

#[tokio::test]
async fn a_lost_answer_makes_the_retry_meet_its_own_write() {
    let w = world().await;
    let names = w.moto.fresh_storage(&w.direct).await;
    let table = names.state_table.as_str();
    w.proxy.inject(Rule::on("dynamodb:PutItem").fault(Fault::LostAnswer));
    let err = w
        .via
        .dynamodb
        .put_item()
        .table_name(table)
        .set_item(Some(state_item("entity#3", "LEDGER#0001").into()))
        .condition_expression(format!("attribute_not_exists({STATE_PARTITION_KEY})"))
        .send()
        .await
        .expect_err("the retry finds the item its first attempt wrote");
    let err = err.into_service_error();
    assert!(err.is_conditional_check_failed_exception(), "{err:?}");
    assert_eq!(sort_keys(&w.direct, table, "entity#3").await, ["LEDGER#0001"]);
    let outcomes: Vec<(Option<u16>, Outcome)> = entries(&w.proxy.log(), "dynamodb:PutItem")
        .into_iter()
        .map(|(_, status, outcome)| (status, outcome))
        .collect();
    assert_eq!(
        outcomes,
        [(Some(200), Outcome::LostAnswer), (Some(400), Outcome::Forwarded)]
    );
}

#[tokio::test]
async fn resets_are_never_forwarded() {
    let w = world().await;
    let bucket = bucket(&w.direct).await;
    w.proxy.inject(Rule::on("s3:PutObject").times(20).fault(Fault::Reset));
    let err = put(&w.via, &bucket, "reset.eml", "never")
        .await
        .expect_err("every attempt reset");
    assert!(is_connection_reset(&err), "{err:?}");
    assert_eq!(object(&w.direct, &bucket, "reset.eml").await, None);
    let puts = entries(&w.proxy.log(), "s3:PutObject");
    assert!((2..20).contains(&puts.len()), "the SDK retried a reset: {puts:?}");
    let reset = (format!("{bucket}/reset.eml"), None, injected("Reset"));
    assert!(puts.iter().all(|p| *p == reset), "{puts:?}");
    assert_eq!(w.proxy.count("s3:PutObject"), 0);
    // Without rules the same request goes through the same proxy.
    w.proxy.clear();
    put(&w.via, &bucket, "reset.eml", "now").await.expect("put after clear");
    assert_eq!(object(&w.direct, &bucket, "reset.eml").await.as_deref(), Some("now"));
}

/// A plain client on a plain thread: the proxy needs no runtime of the test's, and a
/// reset reaches the client as a TCP RST before any byte of an answer.
#[test]
fn a_reset_connection_gets_no_answer_at_all() {
    // Nothing is forwarded, so no moto is needed.
    let proxy = FaultProxy::start("http://127.0.0.1:9");
    proxy.inject(Rule::on("s3:GetObject").fault(Fault::Reset));
    let addr = proxy.url().trim_start_matches("http://").to_owned();
    let read = std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let mut stream = TcpStream::connect(&addr).expect("connect to the proxy");
            stream.set_read_timeout(Some(PATIENCE)).expect("read timeout");
            let request = format!("GET /b/k HTTP/1.1\r\nHost: {addr}\r\n\r\n");
            stream.write_all(request.as_bytes()).expect("send a request");
            let mut answer = Vec::new();
            (stream.read_to_end(&mut answer), answer)
        });
        assert!(proxy.wait_for(|log| log.len() == 1, PATIENCE), "the request was logged");
        client.join().expect("client thread")
    });
    match read {
        (Err(e), answer) => assert_eq!((e.kind(), answer.len()), (ErrorKind::ConnectionReset, 0)),
        (Ok(n), answer) => panic!("{n} bytes instead of a reset: {:?}", String::from_utf8_lossy(&answer)),
    }
    assert_eq!(
        entries(&proxy.log(), "s3:GetObject"),
        [("b/k".into(), None, injected("Reset"))]
    );
}

#[tokio::test]
async fn injected_errors_are_in_each_services_format() {
    let w = world().await;
    w.proxy.inject(Rule::on("s3:*").times(2).fault(Fault::ServerError));
    w.proxy.inject(Rule::on("dynamodb:GetItem").fault(Fault::Throttle));
    let http = reqwest::Client::new();
    let url = format!("{}/no-such-bucket/a%20key", w.proxy.url());
    let get = http.get(&url).send().await.expect("get through the proxy");
    assert_eq!(get.status(), 500);
    assert_eq!(get.headers()["content-type"], "application/xml");
    assert!(get.headers().contains_key("x-amz-request-id"));
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message><RequestId>1</RequestId></Error>"#;
    assert_eq!(get.text().await.expect("body"), xml);
    let head = http.head(&url).send().await.expect("head through the proxy");
    assert_eq!(head.status(), 500);
    assert_eq!(head.bytes().await.expect("body").len(), 0);
    let throttled = http
        .post(w.proxy.url())
        .header("x-amz-target", "DynamoDB_20120810.GetItem")
        .body(r#"{"TableName":"t"}"#)
        .send()
        .await
        .expect("post through the proxy");
    assert_eq!(throttled.status(), 400);
    assert_eq!(throttled.headers()["content-type"], "application/x-amz-json-1.0");
    let json: serde_json::Value = throttled.json().await.expect("json error");
    assert_eq!(json["__type"], "com.amazonaws.dynamodb.v20120810#ThrottlingException");
    // Both shots spent, the third request reaches moto, which knows no such bucket.
    let third = http.get(&url).send().await.expect("get through the proxy");
    assert_eq!(third.status(), 404);
    assert!(third.text().await.expect("body").contains("NoSuchBucket"));
    let log = w.proxy.log();
    assert_eq!(
        entries(&log, "s3:GetObject")[0],
        ("no-such-bucket/a key".into(), None, injected("ServerError"))
    );
    assert_eq!(
        entries(&log, "dynamodb:GetItem"),
        [("t".into(), None, injected("Throttle"))]
    );
    assert_eq!(w.proxy.injected(), 3);
}

#[tokio::test]
async fn after_lets_the_first_matching_requests_pass() {
    let w = world().await;
    let bucket = bucket(&w.direct).await;
    let rule = Rule::on("s3:PutObject").containing("/letters/").after(2).times(2);
    w.proxy.inject(rule.fault(Fault::ServerError));
    let keys = ["letters/1", "letters/2", "other/1", "letters/3", "letters/4"];
    for key in keys {
        put(&w.via, &bucket, key, key)
            .await
            .expect("put: the SDK rides out a 500");
    }
    for key in keys {
        assert_eq!(object(&w.direct, &bucket, key).await.as_deref(), Some(key));
    }
    let outcomes: Vec<(String, Outcome)> = entries(&w.proxy.log(), "s3:PutObject")
        .into_iter()
        .map(|(target, _, outcome)| (target.trim_start_matches(&format!("{bucket}/")).to_owned(), outcome))
        .collect();
    let forwarded = |key: &str| (key.to_owned(), Outcome::Forwarded);
    let failed = (String::from("letters/3"), injected("ServerError"));
    let expected = [
        forwarded("letters/1"),
        forwarded("letters/2"),
        forwarded("other/1"),
        failed.clone(),
        failed,
        forwarded("letters/3"),
        forwarded("letters/4"),
    ];
    assert_eq!(outcomes, expected);
}

#[tokio::test]
async fn a_delay_holds_the_answer_back_without_being_a_fault() {
    let w = world().await;
    let bucket = bucket(&w.direct).await;
    put(&w.direct, &bucket, "slow.eml", "slow").await.expect("put directly");
    let delay = Duration::from_millis(300);
    w.proxy.inject(Rule::on("s3:GetObject").fault(Fault::Delay(delay)));
    let started = Instant::now();
    assert_eq!(object(&w.via, &bucket, "slow.eml").await.as_deref(), Some("slow"));
    assert!(started.elapsed() >= delay, "answered after {:?}", started.elapsed());
    let gets = entries(&w.proxy.log(), "s3:GetObject");
    assert_eq!(gets, [(format!("{bucket}/slow.eml"), Some(200), Outcome::Forwarded)]);
    assert_eq!(w.proxy.injected(), 0);
}

#[tokio::test]
async fn a_slow_intake_takes_a_body_no_faster_than_its_rate() {
    let w = world().await;
    let bucket = bucket(&w.direct).await;
    let body = "x".repeat(150_000);
    w.proxy.slow_intake(300_000);
    let started = Instant::now();
    put(&w.via, &bucket, "big.eml", &body)
        .await
        .expect("put through a slow intake");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(500), "150 kB at 300 kB/s took {took:?}");
    assert_eq!(
        object(&w.direct, &bucket, "big.eml").await.map(|b| b.len()),
        Some(150_000)
    );
    assert_eq!(
        entries(&w.proxy.log(), "s3:PutObject"),
        [(format!("{bucket}/big.eml"), Some(200), Outcome::Forwarded)]
    );
    assert_eq!(w.proxy.injected(), 0);
}

#[tokio::test]
async fn an_async_test_waits_for_requests_made_elsewhere() {
    let w = world().await;
    let bucket = bucket(&w.direct).await;
    let via = w.via.clone();
    let writer = tokio::spawn({
        let bucket = bucket.clone();
        async move { put(&via, &bucket, "elsewhere.eml", "here").await }
    });
    let landed = |log: &[Exchange]| {
        log.iter()
            .any(|e| e.operation == "s3:PutObject" && e.status == Some(200))
    };
    assert!(w.proxy.wait_for_async(landed, PATIENCE).await);
    assert_eq!(
        object(&w.direct, &bucket, "elsewhere.eml").await.as_deref(),
        Some("here")
    );
    writer.await.expect("writer task").expect("put");
    let never = |log: &[Exchange]| log.iter().any(|e| e.operation == "s3:DeleteObject");
    assert!(!w.proxy.wait_for_async(never, Duration::from_millis(50)).await);
}
