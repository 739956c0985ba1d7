//! The local bootstrap, run as an operator runs it, against a real moto server.

use assert_cmd::Command;
use testkit::{MotoServer, REGION, unique_name};

fn cli(moto: &MotoServer) -> Command {
    let mut cmd = Command::cargo_bin("digipost-ebox").unwrap();
    cmd.env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE");
    cmd
}

#[tokio::test]
async fn bootstrap_creates_tables_and_bucket_once() {
    let moto = MotoServer::start();
    let (connections, state, bucket, bus) = (
        unique_name("connections"),
        unique_name("state"),
        unique_name("verdeelbak"),
        unique_name("events"),
    );
    let run = || {
        cli(&moto)
            .args(["bootstrap"])
            .env("CONNECTIONS_TABLE", &connections)
            .env("STATE_TABLE", &state)
            .env("VERDEELBAK_BUCKET", &bucket)
            .env("EVENT_BUS_NAME", &bus)
            .assert()
            .success()
    };
    let first = String::from_utf8(run().get_output().stdout.clone()).unwrap();
    assert!(first.contains(&format!("created  table {connections}")), "{first}");
    assert!(first.contains(&format!("created  bucket {bucket}")), "{first}");
    assert!(first.contains(&format!("created  event bus {bus}")), "{first}");
    let second = String::from_utf8(run().get_output().stdout.clone()).unwrap();
    assert!(second.contains(&format!("exists   table {state}")), "{second}");
    assert!(!second.contains("created"), "{second}");

    let clients = moto.clients().await;
    let table = clients
        .dynamodb
        .describe_table()
        .table_name(&state)
        .send()
        .await
        .unwrap();
    let keys: Vec<(String, String)> = table
        .table()
        .unwrap()
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name().to_owned(), k.key_type().as_str().to_owned()))
        .collect();
    assert_eq!(
        keys,
        [
            ("pk".to_string(), "HASH".to_string()),
            ("sk".to_string(), "RANGE".to_string())
        ]
    );
    let ttl = clients
        .dynamodb
        .describe_time_to_live()
        .table_name(&state)
        .send()
        .await
        .unwrap();
    assert_eq!(ttl.time_to_live_description().unwrap().attribute_name(), Some("ttl"));
    clients
        .s3
        .head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("the bucket exists");
}

#[test]
fn bootstrap_names_every_missing_variable() {
    let out = Command::cargo_bin("digipost-ebox")
        .unwrap()
        .args(["bootstrap"])
        .env_remove("CONNECTIONS_TABLE")
        .env_remove("STATE_TABLE")
        .env("VERDEELBAK_BUCKET", "b")
        .assert()
        .failure();
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("CONNECTIONS_TABLE is not set"), "{stderr}");
    assert!(stderr.contains("STATE_TABLE is not set"), "{stderr}");
}
