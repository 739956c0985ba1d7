//! No secret material (private key, client assertion, access token) appears in any
//! Debug output, error message or log line, also when token requests fail.

mod common;

use common::*;
use ebox::EboxError;
use futures::TryStreamExt;
use serde_json::json;
use testkit::log_capture::CapturedLog;

#[tokio::test]
async fn failing_token_requests_leak_nothing() {
    let logs = CapturedLog::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.writer())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let f = Fixture::start().await;
    f.generate(3, 1, 1000);
    let session = f.session();
    // A working session first, so that real tokens exist that must not show up.
    let provider = session.providers().await.unwrap().providers[0].clone();
    let listed: Vec<_> = session
        .messages(&provider, None, ebox::Visibility::AsListed)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);

    // Then failures: a token endpoint that errors, then a key e-Box does not know.
    f.fault(json!({"route": "token", "kind": {"type": "status", "status": 500}, "times": 2}));
    let other = testkit::KeyMaterial::generate("not-registered");
    let credentials = other.credentials(CLIENT_ID);
    // A fresh process: nothing cached.
    let failing = ebox::Ebox::new(config(&f.sim)).unwrap().session(credentials.clone());
    let err = failing.access_token().await.unwrap_err();
    assert!(
        matches!(&err, EboxError::TokenRefused { code, description, .. } if code == "invalid_client" && description.contains("signature")),
        "{err}"
    );

    let mut visible = logs.text();
    assert!(visible.contains("retrying"), "the failures were logged: {visible}");
    visible.push_str(&format!(
        "{err}\n{err:?}\n{credentials:?}\n{:?}",
        session.access_token().await.unwrap()
    ));

    let tokens = f.sim.issued_tokens();
    assert!(!tokens.is_empty());
    for token in tokens {
        assert!(!visible.contains(&token), "an access token leaked");
    }
    for pem in [&f.key.private_key_pem, &other.private_key_pem] {
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!visible.contains(line), "a line of a private key leaked");
        }
    }
    // Every JWT (a client assertion) starts with the base64 of `{"`.
    assert!(!visible.contains("eyJ"), "a client assertion leaked");
}
