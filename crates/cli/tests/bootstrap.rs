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
fn bootstrap_names_what_it_cannot_find() {
    // Nothing set, and AWS out of reach: the stack's bucket cannot be looked for.
    let out = Command::cargo_bin("digipost-ebox")
        .unwrap()
        .args(["--stack", "nowhere", "bootstrap"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("VERDEELBAK_BUCKET")
        .env_remove("DIGIPOST_EBOX_STACK")
        .assert()
        .failure();
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.contains("VERDEELBAK_BUCKET is not set, and no bucket nowhere-verdeelbak-<account id> was found for stack \"nowhere\": the buckets could not be listed"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_cli_finds_a_stack_by_its_name_prefix() {
    let moto = MotoServer::start();
    let stack = unique_name("stack");
    let bucket = format!("{stack}-verdeelbak-123456789012");
    // Terraform's names, made locally: only the bucket, whose name holds the account,
    // is named by hand.
    let made = cli(&moto)
        .args(["--stack", &stack, "bootstrap"])
        .env("VERDEELBAK_BUCKET", &bucket)
        .assert()
        .success();
    let made = String::from_utf8(made.get_output().stdout.clone()).unwrap();
    for name in ["connections", "state"] {
        assert!(made.contains(&format!("created  table {stack}-{name}")), "{made}");
    }
    assert!(
        made.contains(&format!("created  event bus {stack}-delivered")),
        "{made}"
    );
    // Found by its prefix alone, on the command line or in the environment.
    let listed = cli(&moto)
        .args(["--stack", &stack, "connections", "list", "--json"])
        .assert()
        .success();
    assert_eq!(
        String::from_utf8(listed.get_output().stdout.clone()).unwrap().trim(),
        "[]"
    );
    cli(&moto)
        .args(["connections", "list"])
        .env("DIGIPOST_EBOX_STACK", &stack)
        .assert()
        .success();
    // A stack that is not there is named, with what to set instead.
    let missing = cli(&moto)
        .args(["--stack", "no-such-stack", "connections", "list"])
        .assert()
        .failure();
    let error = String::from_utf8(missing.get_output().stderr.clone()).unwrap();
    assert!(
        error.contains("VERDEELBAK_BUCKET is not set, and no bucket no-such-stack-verdeelbak-<account id>"),
        "{error}"
    );
}
