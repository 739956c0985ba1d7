//! The token endpoint checks client assertions the way e-Box does.

mod common;

use common::*;
use ebox_sim::auth::ASSERTION_TYPE;
use ebox_sim::data::{
    CONSULT_SCOPE, MESSAGES_SCOPE, OLD_CONSULT_SCOPES, REFERENCE_DATA_SCOPE, REGISTRY_SCOPE, SUMMARY_SCOPE, Scenario,
};
use serde_json::json;
use testkit::KeyMaterial;

async fn request(f: &Fixture, assertion: &str, scope: &str) -> (u16, serde_json::Value) {
    f.token_request(&[
        ("grant_type", "client_credentials"),
        ("scope", scope),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ])
    .await
}

fn refused(answer: &(u16, serde_json::Value), error: &str, description: &str) {
    assert_eq!(answer.0, 400, "{}", answer.1);
    assert_eq!(answer.1["error"], error, "{}", answer.1);
    let d = answer.1["error_description"].as_str().unwrap();
    assert!(d.contains(description), "{d:?} does not mention {description:?}");
}

#[tokio::test]
async fn a_valid_assertion_gets_a_bearer_token() {
    let f = Fixture::start().await;
    let a = assertion("client-a", &f.sim.audience(), &f.key_a.private_key_pem, 120, &uuid());
    let (status, body) = request(&f, &a, CONSULT_SCOPE).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], CONSULT_SCOPE);
    assert!(body["access_token"].as_str().unwrap().len() >= 32);
    // The audience of v5 is the token URL itself.
    assert_eq!(f.sim.audience(), f.sim.token_url());
}

#[tokio::test]
async fn assertions_that_are_wrong_in_any_way_are_refused() {
    let f = Fixture::start().await;
    let aud = f.sim.audience();
    let key = &f.key_a.private_key_pem;
    let other = KeyMaterial::generate("someone-else");

    let wrong_key = assertion("client-a", &aud, &other.private_key_pem, 120, &uuid());
    refused(
        &request(&f, &wrong_key, CONSULT_SCOPE).await,
        "invalid_client",
        "signature",
    );

    let wrong_audience = assertion("client-a", "https://oauth.socialsecurity.be", key, 120, &uuid());
    refused(
        &request(&f, &wrong_audience, CONSULT_SCOPE).await,
        "invalid_client",
        "aud",
    );

    let expired = assertion("client-a", &aud, key, -600, &uuid());
    refused(&request(&f, &expired, CONSULT_SCOPE).await, "invalid_client", "expired");

    let too_long = assertion("client-a", &aud, key, 3600, &uuid());
    refused(
        &request(&f, &too_long, CONSULT_SCOPE).await,
        "invalid_client",
        "too long",
    );

    let unknown = assertion("client-z", &aud, key, 120, &uuid());
    refused(
        &request(&f, &unknown, CONSULT_SCOPE).await,
        "invalid_client",
        "unknown client",
    );

    let now = chrono::Utc::now().timestamp();
    let sub_differs = claims_assertion(
        &json!({"iss": "client-a", "sub": "client-b", "aud": aud, "jti": uuid(), "iat": now, "exp": now + 60}),
        key,
    );
    refused(&request(&f, &sub_differs, CONSULT_SCOPE).await, "invalid_client", "sub");

    let no_jti = claims_assertion(
        &json!({"iss": "client-a", "sub": "client-a", "aud": aud, "iat": now, "exp": now + 60}),
        key,
    );
    refused(&request(&f, &no_jti, CONSULT_SCOPE).await, "invalid_client", "jti");

    refused(
        &request(&f, "not-a-jwt", CONSULT_SCOPE).await,
        "invalid_client",
        "not a JWT",
    );
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let f = Fixture::start().await;
    let a = assertion(
        "client-a",
        &f.sim.audience(),
        &f.key_a.private_key_pem,
        120,
        "the-same-jti",
    );
    assert_eq!(request(&f, &a, CONSULT_SCOPE).await.0, 200);
    refused(&request(&f, &a, CONSULT_SCOPE).await, "invalid_client", "replayed");
}

#[tokio::test]
async fn scopes_not_granted_and_wrong_grants_are_refused() {
    let f = Fixture::start().await;
    let key = KeyMaterial::generate("consult-only");
    f.register(
        "client-c",
        ENTERPRISE_B,
        &key.certificate_pem,
        Some(vec![CONSULT_SCOPE]),
    )
    .await;
    let aud = f.sim.audience();
    let a = assertion("client-c", &aud, &key.private_key_pem, 120, &uuid());
    refused(
        &request(&f, &a, &format!("{CONSULT_SCOPE} {REGISTRY_SCOPE}")).await,
        "invalid_scope",
        REGISTRY_SCOPE,
    );

    let a = assertion("client-c", &aud, &key.private_key_pem, 120, &uuid());
    let answer = f
        .token_request(&[
            ("grant_type", "password"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &a),
        ])
        .await;
    refused(&answer, "unsupported_grant_type", "password");
    let answer = f
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:other"),
            ("client_assertion", &a),
        ])
        .await;
    refused(&answer, "invalid_request", "client_assertion_type");
}

#[tokio::test]
async fn an_expired_certificate_gets_no_token() {
    let f = Fixture::start().await;
    let key = KeyMaterial::generate_valid_until("expired", (2021, 1, 1));
    f.register("client-old", ENTERPRISE_B, &key.certificate_pem, None).await;
    let a = assertion("client-old", &f.sim.audience(), &key.private_key_pem, 120, &uuid());
    refused(
        &request(&f, &a, CONSULT_SCOPE).await,
        "invalid_client",
        "certificate has expired",
    );
}

#[tokio::test]
async fn registries_want_a_valid_token_with_the_right_scope() {
    let f = Fixture::start().await;
    let messages = format!("{}/ebox/messages", f.registry(PROVIDER));
    let r = f.http.get(&messages).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "UNAUTHORIZED");
    assert!(body["id"].as_str().is_some() && body["message"].as_str().is_some());
    assert_eq!(f.get(&messages, "made-up").await.status(), 401);

    // A consumer without the registry scope reads messages but not the provider registry.
    let key = KeyMaterial::generate("consult-only");
    f.register(
        "client-c",
        ENTERPRISE_B,
        &key.certificate_pem,
        Some(vec![CONSULT_SCOPE]),
    )
    .await;
    let a = assertion("client-c", &f.sim.audience(), &key.private_key_pem, 120, &uuid());
    let (_, body) = request(&f, &a, CONSULT_SCOPE).await;
    let token = body["access_token"].as_str().unwrap();
    let summary = format!("{}/ebox", f.registry(PROVIDER));
    assert_eq!(f.get(&summary, token).await.status(), 200);
    let (status, body) = f.get_json(&f.sim.provider_registry_url(), token).await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], "FORBIDDEN");

    // Tokens expire.
    let token = f.token_a().await;
    assert_eq!(f.get(&summary, &token).await.status(), 200);
    f.sim.advance_clock(chrono::Duration::minutes(11));
    assert_eq!(f.get(&summary, &token).await.status(), 401);
}

/// Registers a client for ENTERPRISE_B with these scopes (and messages in its e-Box);
/// returns a token asked without naming a scope, so holding every scope granted.
async fn client_with(f: &Fixture, client_id: &str, scopes: &[&str]) -> String {
    let key = KeyMaterial::generate(client_id);
    f.sim
        .register_with_scopes(client_id, ENTERPRISE_B, &key.certificate_pem, scopes)
        .unwrap();
    f.sim.generate(&Scenario::of(5, ENTERPRISE_B, 2, 1, 100).at(PROVIDER));
    f.token_with_scope(client_id, &key.private_key_pem, None).await
}

/// The status of each kind of call a consumer makes, in the order: discovery, summary,
/// list, content, reference data list, reference data lookup (under `refData`, where
/// the v3 registry serves it).
async fn statuses(f: &Fixture, token: &str) -> Vec<u16> {
    let base = f.registry(PROVIDER);
    let id = &f.sim.messages(PROVIDER, ENTERPRISE_B)[0].id;
    let urls = [
        f.sim.provider_registry_url(),
        format!("{base}/ebox"),
        format!("{base}/ebox/messages"),
        format!("{base}/ebox/messages/{id}/attachments/att-1/content"),
        format!("{base}/refData/messageTypes"),
        format!("{base}/refData/senderOrganizations/0308357159"),
    ];
    let mut statuses = Vec::new();
    for url in urls {
        statuses.push(f.get(&url, token).await.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn a_client_granted_the_older_scopes_reads_everything() {
    let f = Fixture::start().await;
    let scopes = [&OLD_CONSULT_SCOPES[..], &[REGISTRY_SCOPE]].concat();
    let token = client_with(&f, "client-old", &scopes).await;
    assert_eq!(statuses(&f, &token).await, [200; 6]);
}

#[tokio::test]
async fn a_client_granted_documentconsumer_reads_everything_but_discovery_without_registry_scope() {
    let f = Fixture::start().await;
    let token = client_with(&f, "client-new", &[CONSULT_SCOPE]).await;
    assert_eq!(statuses(&f, &token).await, [403, 200, 200, 200, 200, 200]);
}

#[tokio::test]
async fn a_client_missing_a_scope_gets_403_on_what_it_covers() {
    let f = Fixture::start().await;
    let token = client_with(&f, "client-partial", &[SUMMARY_SCOPE, MESSAGES_SCOPE, REGISTRY_SCOPE]).await;
    assert_eq!(statuses(&f, &token).await, [200, 200, 200, 200, 403, 403]);
    let url = format!("{}/refData/messageTypes", f.registry(PROVIDER));
    let (_, body) = f.get_json(&url, &token).await;
    assert_eq!(body["code"], "FORBIDDEN");
    assert!(
        body["message"].as_str().unwrap().contains(REFERENCE_DATA_SCOPE),
        "{body}"
    );
}

#[tokio::test]
async fn a_token_without_scope_gets_all_granted_and_a_scope_not_granted_is_refused() {
    let f = Fixture::start().await;
    let key = KeyMaterial::generate("old");
    let scopes = [&OLD_CONSULT_SCOPES[..], &[REGISTRY_SCOPE]].concat();
    f.sim
        .register_with_scopes("client-old", ENTERPRISE_B, &key.certificate_pem, &scopes)
        .unwrap();
    let a = assertion("client-old", &f.sim.audience(), &key.private_key_pem, 120, &uuid());
    let (status, body) = f
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &a),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    let granted: std::collections::BTreeSet<&str> = body["scope"].as_str().unwrap().split(' ').collect();
    assert_eq!(granted, scopes.iter().copied().collect());
    // The scope list of a newer client fails an older one.
    let a = assertion("client-old", &f.sim.audience(), &key.private_key_pem, 120, &uuid());
    refused(
        &request(&f, &a, &format!("{CONSULT_SCOPE} {REGISTRY_SCOPE}")).await,
        "invalid_scope",
        CONSULT_SCOPE,
    );
}
