//! The e-Box client against the simulator, over real HTTP with real signed assertions.

mod common;

use std::collections::HashSet;

use base64::Engine;
use common::*;
use ebox::model::{Listed, MessageProvider, ProviderState, ReferenceKind};
use ebox::{EboxError, KeyError, KeyMaterial};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use sha2::Digest;

async fn active_providers(f: &Fixture, session: &ebox::Session) -> Vec<MessageProvider> {
    let now = f.sim.now();
    let mut listed = listed_providers(session).await;
    listed.retain(|p| p.state(now) == ProviderState::Active);
    listed
}

/// Every item of a walk.
async fn walk_all(session: &ebox::Session, provider: &MessageProvider) -> Result<Vec<Listed>, EboxError> {
    session
        .messages(provider, None, ebox::Visibility::AsListed)
        .try_collect()
        .await
}

/// Every message of a walk, which must hold nothing else.
async fn walk(
    session: &ebox::Session,
    provider: &MessageProvider,
) -> Result<Vec<ebox::model::ListedMessage>, EboxError> {
    Ok(walk_all(session, provider)
        .await?
        .into_iter()
        .map(|item| match item {
            Listed::Message(m) => *m,
            Listed::Unreadable(u) => panic!("unreadable item {u:?}"),
        })
        .collect())
}

/// Downloads an attachment; returns its length and SHA-256 (never the bytes, which would
/// flood a failure message).
async fn download(
    session: &ebox::Session,
    p: &MessageProvider,
    m: &str,
    a: &ebox::model::Attachment,
) -> Result<(usize, [u8; 32]), EboxError> {
    let d = session.attachment(p, m, a).await?;
    let sha = d.sha256.clone();
    let chunks: Vec<bytes::Bytes> = d.chunks.try_collect().await?;
    let bytes = chunks.concat();
    let digest: [u8; 32] = sha2::Sha256::digest(&bytes).into();
    assert_eq!(sha.get().copied(), Some(digest));
    Ok((bytes.len(), digest))
}

#[tokio::test]
async fn the_whole_happy_path() {
    let f = Fixture::start().await;
    f.generate(250, 2, 30_000);
    let session = f.session();
    let providers = active_providers(&f, &session).await;
    let ids: Vec<&str> = providers.iter().map(|p| p.message_provider_id.as_str()).collect();
    assert_eq!(
        ids,
        ["ebox-enterprise", "vlaamse-overheid"],
        "inactive providers are skipped"
    );
    let mut total = 0;
    for provider in &providers {
        let messages = walk(&session, provider).await.unwrap();
        let expected = f.sim.messages(&provider.message_provider_id, ENTERPRISE);
        assert_eq!(messages.len(), expected.len());
        assert_eq!(
            messages
                .iter()
                .map(|m| m.message.message_id.clone())
                .collect::<Vec<_>>(),
            expected.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
            "newest first, each once"
        );
        total += messages.len();
        // Raw JSON is kept whole.
        let raw: serde_json::Value = serde_json::from_str(messages[0].raw.get()).unwrap();
        assert_eq!(raw["messageId"], messages[0].message.message_id);
        assert!(raw.get("attachments").is_some());
        let with_body = messages
            .iter()
            .find(|m| m.message.body_main_content == Some(true))
            .unwrap();
        let body = session
            .body(provider, &with_body.message.message_id)
            .await
            .unwrap()
            .unwrap();
        assert!(body.text.nl.as_deref().unwrap().starts_with("Geachte"));
        let m = &messages[1];
        for (attachment, sim_attachment) in m.message.attachments().iter().zip(&expected[1].attachments) {
            let (len, sha) = download(&session, provider, &m.message.message_id, attachment)
                .await
                .unwrap();
            assert_eq!(len, 30_000);
            assert_eq!(sha, sim_attachment.content.sha256());
            assert_eq!(attachment.expected_sha256(), Some(sim_attachment.content.sha256()));
        }
    }
    assert_eq!(total, 250);
    // 125 messages a provider, served 50 a page although 100 were asked for: three pages
    // each; one token for everything.
    assert_eq!(f.requests("list"), 6);
    assert_eq!(f.requests("token"), 1);
    assert_eq!(f.requests("providers"), 1);
    // The provider list and the token are reused by a new session in the same process.
    let again = f.session();
    again.providers().await.unwrap();
    again.access_token().await.unwrap();
    assert_eq!(f.requests("providers"), 1);
    assert_eq!(f.requests("token"), 1);
}

#[tokio::test]
async fn reference_names_are_looked_up_by_id_once_and_never_block() {
    let f = Fixture::start().await;
    let session = f.session();
    let provider = active_providers(&f, &session).await.remove(0);
    let org = |s: &ebox::Session| {
        let (s, p) = (s.clone(), provider.clone());
        async move {
            s.reference_name(&p, ReferenceKind::SenderOrganization, "0308357159")
                .await
        }
    };
    assert_eq!(org(&session).await.unwrap().nl.as_deref(), Some("FOD Financiën"));
    let kind = session
        .reference_name(&provider, ReferenceKind::MessageType, "aanslagbiljet")
        .await
        .unwrap();
    assert_eq!(kind.fr.as_deref(), Some("Avertissement-extrait de rôle"));
    assert_eq!(f.requests("reference_data"), 2, "one lookup by id each");
    // Another entity's session in the same process uses what was looked up.
    assert_eq!(org(&f.session()).await.unwrap().de.as_deref(), Some("FÖD Finanzen"));
    assert_eq!(f.requests("reference_data"), 2);
    // An id the registry does not know: the list is asked once, and it has no name.
    assert_eq!(
        session
            .reference_name(&provider, ReferenceKind::SenderApplication, "unknown-app")
            .await,
        None
    );
    let after_unknown = f.requests("reference_data");
    assert!(after_unknown > 2);
    // Reference data down: no name, no error, and no more asking for a while.
    f.fault(json!({"route": "reference_data", "kind": {"type": "status", "status": 503}}));
    assert_eq!(
        session
            .reference_name(&provider, ReferenceKind::SenderApplication, "dmfa")
            .await,
        None
    );
    let while_down = f.requests("reference_data");
    assert_eq!(
        session
            .reference_name(&provider, ReferenceKind::MessageType, "attest")
            .await,
        None
    );
    assert_eq!(f.requests("reference_data"), while_down, "paused after the outage");
    assert_eq!(
        org(&session).await.unwrap().nl.as_deref(),
        Some("FOD Financiën"),
        "what was looked up stays"
    );
}

#[tokio::test]
async fn rate_limits_and_bursts_of_503_are_retried() {
    let f = Fixture::start().await;
    f.generate(30, 1, 1000);
    let session = f.session();
    let provider = active_providers(&f, &session).await.remove(0);
    f.fault(json!({"route": "list", "kind": {"type": "status", "status": 429, "retry_after": "1"}, "times": 1}));
    f.fault(json!({"route": "list", "kind": {"type": "status", "status": 503}, "times": 2}));
    let started = std::time::Instant::now();
    let messages = walk(&session, &provider).await.unwrap();
    assert_eq!(messages.len(), 15);
    assert_eq!(f.requests("list"), 4, "one 429, two 503, one answer");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After was honoured"
    );

    // A wait longer than the call's budget is not waited for: the answer is "rate
    // limited", at once, with what e-Box asked.
    f.fault(json!({"route": "list", "kind": {"type": "status", "status": 429, "retry_after": "3600"}, "times": 1}));
    let started = std::time::Instant::now();
    let err = walk(&session, &provider).await.unwrap_err();
    assert!(
        matches!(err, EboxError::RateLimited { retry_after: Some(d), .. } if d.as_secs() == 3600),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(err.retryable());
    f.sim.reset_counters();

    // A provider that stays down ends in a clear, retryable error after bounded retries.
    f.fault(json!({"route": "list", "kind": {"type": "status", "status": 503}}));
    let err = walk(&session, &provider).await.unwrap_err();
    assert!(matches!(err, EboxError::Unavailable { status: 503, .. }), "{err}");
    assert!(err.retryable());
    assert_eq!(f.requests("list"), 5, "first try and four retries");
}

#[tokio::test]
async fn cut_short_and_wrong_attachments_are_errors() {
    let f = Fixture::start().await;
    // Large enough that the server has sent part of it before the reset.
    f.generate(2, 1, 2_000_000);
    let session = f.session();
    let provider = active_providers(&f, &session).await.remove(0);
    let m = walk(&session, &provider).await.unwrap().remove(0).message;
    let a = m.attachments()[0].clone();

    f.fault(json!({"route": "content", "kind": {"type": "reset", "after_bytes": 1500000}, "times": 1}));
    let err = download(&session, &provider, &m.message_id, &a).await.unwrap_err();
    assert!(matches!(err, EboxError::Transport { .. }), "{err}");
    assert_eq!(
        f.requests("content"),
        1,
        "the cut came mid-body, after the answer had started"
    );
    assert!(err.retryable());

    f.fault(json!({"route": "content", "kind": {"type": "truncate", "after_bytes": 100000}, "times": 1}));
    let err = download(&session, &provider, &m.message_id, &a).await.unwrap_err();
    assert!(matches!(err, EboxError::DigestMismatch { .. }), "{err}");

    f.fault(json!({"route": "content", "kind": {"type": "wrong_digest"}, "times": 1}));
    let err = download(&session, &provider, &m.message_id, &a).await.unwrap_err();
    let expected = hex::encode(a.expected_sha256().unwrap());
    assert!(
        matches!(&err, EboxError::DigestMismatch { attachment, expected: e, .. } if attachment == "att-1" && *e == expected),
        "{err}"
    );
    assert!(!err.retryable());

    // Whoever writes the chunks somewhere never gets the whole body of a wrong one: the
    // last chunk is held back, and the error comes in its place.
    for fault in ["wrong_digest", "truncate"] {
        let kind = match fault {
            "truncate" => json!({"type": "truncate", "after_bytes": 1_999_999}),
            _ => json!({"type": fault}),
        };
        f.fault(json!({"route": "content", "kind": kind, "times": 1}));
        let mut chunks = session.attachment(&provider, &m.message_id, &a).await.unwrap().chunks;
        let mut passed = 0;
        let err = loop {
            match chunks.next().await {
                Some(Ok(chunk)) => passed += chunk.len(),
                Some(Err(e)) => break e,
                None => panic!("{fault}: the stream ended cleanly after {passed} bytes"),
            }
        };
        assert!(matches!(err, EboxError::DigestMismatch { .. }), "{fault}: {err}");
        assert!(passed < 1_999_999, "{fault}: {passed} bytes passed on before the error");
        assert!(chunks.next().await.is_none(), "{fault}: nothing after the error");
    }

    // Without a digest, the Content-Length decides; the declared size (kB) never fails a
    // download, even when it is far off.
    let mut no_digest = a.clone();
    no_digest.digest = None;
    no_digest.size_kb = Some(1_000_000.0);
    assert_eq!(
        download(&session, &provider, &m.message_id, &no_digest)
            .await
            .unwrap()
            .0,
        2_000_000
    );

    assert_eq!(
        download(&session, &provider, &m.message_id, &a).await.unwrap().0,
        2_000_000
    );
}

#[tokio::test]
async fn malformed_json_names_what_was_malformed() {
    let f = Fixture::start().await;
    f.generate(3, 1, 1000);
    let session = f.session();
    let provider = active_providers(&f, &session).await.remove(0);
    f.fault(json!({"route": "list", "kind": {"type": "malformed_json"}, "times": 1}));
    let err = walk(&session, &provider).await.unwrap_err();
    assert!(
        matches!(&err, EboxError::Malformed { what, .. } if what == "messages of ebox-enterprise page 1"),
        "{err}"
    );
    assert!(!err.retryable());
}

#[tokio::test]
async fn a_token_expiring_mid_walk_is_renewed_transparently() {
    let f = Fixture::start().await;
    f.generate(700, 0, 0);
    let session = f.session();
    let provider = active_providers(&f, &session).await.remove(0);
    session.access_token().await.unwrap(); // the providers call used one; start afresh below
    f.fault(json!({"route": "token", "kind": {"type": "token_expires_after", "calls": 2}, "times": 1}));
    // Force a new token that dies after two calls.
    let fresh = f.ebox.clone();
    let session = {
        let s = fresh.session(f.key.credentials("other-id-same-key"));
        f.sim
            .register("other-id-same-key", ENTERPRISE, &f.key.certificate_pem)
            .unwrap();
        s
    };
    let messages: Vec<_> = session
        .messages(&provider, None, ebox::Visibility::AsListed)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(messages.len(), 350);
    assert_eq!(
        f.requests("list"),
        8,
        "seven pages of 50 and one 401 when the token died"
    );
    assert!(f.requests("token") >= 3, "the dying token was replaced mid-walk");
}

#[tokio::test]
async fn messages_arriving_while_paging_are_yielded_once() {
    let f = Fixture::start().await;
    f.generate(500, 0, 0);
    let session = f.session();
    let provider = active_providers(&f, &session).await.remove(0);
    let before: HashSet<String> = f
        .sim
        .messages("ebox-enterprise", ENTERPRISE)
        .iter()
        .map(|m| m.id.clone())
        .collect();
    // Two arrivals during the walk: on page 2 and page 3 requests.
    f.fault(json!({"route": "list", "kind": {"type": "shift_page"}, "times": 2}));
    let listed: Vec<String> = session
        .messages(&provider, None, ebox::Visibility::AsListed)
        .map_ok(|m| m.message_id().unwrap().to_owned())
        .try_collect()
        .await
        .unwrap();
    let unique: HashSet<String> = listed.iter().cloned().collect();
    assert_eq!(unique.len(), listed.len(), "no message yielded twice");
    assert!(before.is_subset(&unique), "nothing slipped between pages");
    assert_eq!(unique.len(), 252, "the arrivals were picked up by walking again");
}

#[tokio::test]
async fn planned_maintenance_and_a_static_provider_list() {
    let f = Fixture::start().await;
    let now = f.sim.now();
    f.sim.update_provider("vlaamse-overheid", |p| {
        p.maintenance.push(ebox_sim::model::Maintenance {
            start: now - chrono::Duration::minutes(1),
            end: now + chrono::Duration::hours(2),
        })
    });
    let session = f.session();
    let providers = session.providers().await.unwrap();
    let states: Vec<ProviderState> = providers.providers.iter().map(|p| p.state(now)).collect();
    assert_eq!(states[0], ProviderState::Active);
    assert!(matches!(states[1], ProviderState::InMaintenance { .. }));
    assert_eq!(states[2], ProviderState::NotYetActive);
    assert_eq!(states[3], ProviderState::Deactivated);

    let mut config = config(&f.sim);
    config.provider_registry_url = "http://127.0.0.1:9/unreachable".into();
    config.static_providers = Some(vec![providers.providers[0].clone()]);
    let session = ebox::Ebox::new(config).unwrap().session(f.key.credentials(CLIENT_ID));
    let listed = session.providers().await.unwrap();
    assert_eq!(listed.providers.len(), 1);
    assert_eq!(listed.providers[0].message_provider_id, "ebox-enterprise");
}

#[test]
fn key_material_loads_pkcs8_and_pkcs1_and_refuses_a_foreign_certificate() {
    let key = testkit::KeyMaterial::generate("digipost");
    let pkcs8 = KeyMaterial::from_pem(&key.private_key_pem, &key.certificate_pem).unwrap();
    let pkcs1_pem = pkcs1_from_pkcs8(&key.private_key_pem);
    assert!(pkcs1_pem.starts_with(&format!("-----BEGIN {PKCS1_LABEL}-----")));
    let pkcs1 = KeyMaterial::from_pem(&pkcs1_pem, &key.certificate_pem).unwrap();
    assert_eq!(pkcs1.certificate(), pkcs8.certificate());

    let info = pkcs8.certificate();
    assert_eq!(info.not_after.to_rfc3339(), "2040-01-01T00:00:00+00:00");
    let der = rustls_pki_types::pem::PemObject::from_pem_slice(key.certificate_pem.as_bytes())
        .map(|c: rustls_pki_types::CertificateDer| sha2::Sha256::digest(c.as_ref()))
        .unwrap();
    assert_eq!(info.sha256_thumbprint, hex::encode(der));
    assert!(info.subject.contains("digipost"));

    let other = testkit::KeyMaterial::generate("other");
    assert_eq!(
        KeyMaterial::from_pem(&other.private_key_pem, &key.certificate_pem).unwrap_err(),
        KeyError::Mismatch
    );
    assert!(matches!(
        KeyMaterial::from_pem("not a key", &key.certificate_pem),
        Err(KeyError::PrivateKey(_))
    ));
    assert!(matches!(
        KeyMaterial::from_pem(&key.private_key_pem, "nope"),
        Err(KeyError::Certificate(_))
    ));
    // Debug names the certificate, never the key.
    let debug = format!("{pkcs8:?}");
    assert!(debug.contains("[redacted]") && debug.contains("sha256_thumbprint"));
    assert!(!debug.contains(&key.private_key_pem.lines().nth(1).unwrap()[..20]));
}

/// The PEM label of a PKCS#1 RSA key.
const PKCS1_LABEL: &str = "RSA PRIVATE KEY";

/// PKCS#8 wraps the PKCS#1 RSAPrivateKey in an OCTET STRING: take it out.
fn pkcs1_from_pkcs8(pem: &str) -> String {
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).unwrap();
    let (_, info) = x509_parser::der_parser::parse_der(der.secret_pkcs8_der()).unwrap();
    let inner = info.as_sequence().unwrap()[2].as_slice().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(inner);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {PKCS1_LABEL}-----\n{}\n-----END {PKCS1_LABEL}-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn requests_one_after_another_share_one_connection() {
    let f = Fixture::start().await;
    let session = f.session();
    let providers = active_providers(&f, &session).await;
    for _ in 0..3 {
        for p in &providers {
            walk(&session, p).await.unwrap();
        }
    }
    // Token, provider list and six listings over one kept-alive connection (in production
    // one TLS handshake, not eight).
    assert_eq!(f.sim.connections_accepted(), 1);
}

/// One client tried with two keys, as during a certificate rotation: a token got with one
/// key is never what a session with the other key is given. e-Box refuses the key it does
/// not hold, also in a process that has a valid token of that client cached.
#[tokio::test]
async fn a_cached_token_belongs_to_the_key_that_got_it() {
    let f = Fixture::start().await;
    f.session().access_token().await.unwrap();
    let next = testkit::KeyMaterial::generate("next");
    let with_other = f.ebox.session(next.credentials(CLIENT_ID));
    let refused = with_other.access_token().await.unwrap_err();
    assert!(matches!(refused, EboxError::TokenRefused { .. }), "{refused:?}");
    assert_eq!(f.requests("token"), 2, "asked e-Box, not the cache");
    // The first key's token is still served from the cache.
    f.session().access_token().await.unwrap();
    assert_eq!(f.requests("token"), 2);
}

/// The token endpoint refusing with a bare 401 or 403 (no OAuth error body, as a gateway in
/// front of it may answer) is a refusal of the credentials, not a passing fault: a person
/// has to act, and during a rotation the other key pair is tried.
#[tokio::test]
async fn a_bare_401_or_403_from_the_token_endpoint_is_a_refusal() {
    for status in [401u16, 403] {
        let f = Fixture::start().await;
        f.fault(json!({"route": "token", "kind": {"type": "status", "status": status}}));
        let e = f.session().access_token().await.unwrap_err();
        assert!(
            matches!(&e, EboxError::TokenRefused { status: s, .. } if *s == status),
            "{status}: {e:?}"
        );
        assert!(!e.retryable(), "{status}: {e:?}");
        assert_eq!(f.requests("token"), 1, "not retried");
    }
}

/// A token kept from before a scope was granted is refused (403): one fresh token is
/// fetched and the call goes through; one that is still refused is the answer.
#[tokio::test]
async fn a_token_from_before_a_scope_was_granted_is_renewed_once() {
    let f = Fixture::start().await;
    f.generate(3, 1, 1_000);
    f.sim
        .register_with_scopes(CLIENT_ID, ENTERPRISE, &f.key.certificate_pem, &["scope:other"])
        .unwrap();
    let session = f.session();
    let refused = session.providers().await.unwrap_err();
    assert!(matches!(refused, EboxError::ScopeMissing { .. }), "{refused}");
    // The entity's account is granted the Document Consumer scopes meanwhile.
    f.sim.register(CLIENT_ID, ENTERPRISE, &f.key.certificate_pem).unwrap();
    let tokens = f.sim.issued_tokens().len();
    let again = f.session();
    assert!(!again.providers().await.unwrap().providers.is_empty());
    assert_eq!(f.sim.issued_tokens().len(), tokens + 1, "one fresh token");
}

/// A client of its own with `slots` requests open with e-Box at the most, and a session of it.
fn with_slots(f: &Fixture, slots: usize, adjust: impl FnOnce(&mut ebox::EboxConfig)) -> (ebox::Ebox, ebox::Session) {
    let mut config = config(&f.sim);
    config.max_in_flight = slots;
    adjust(&mut config);
    let ebox = ebox::Ebox::new(config).unwrap();
    let session = f.session_of(&ebox, CLIENT_ID);
    (ebox, session)
}

/// However many downloads a run starts at once, the process has at most `max_in_flight`
/// requests open with e-Box: the rest wait for a slot, so connections (each a TLS
/// handshake in production, each keeping its read buffer while idle) stay within it. A
/// download holds its slot until its stream is dropped.
#[tokio::test]
async fn requests_at_once_stay_within_the_configured_slots() {
    let f = Fixture::start().await;
    f.generate(3, 2, 50_000);
    let (ebox, session) = with_slots(&f, 2, |_| {});
    let providers = active_providers(&f, &session).await;
    let mut downloads = Vec::new();
    for p in &providers {
        for m in walk(&session, p).await.unwrap() {
            for a in m.message.attachments() {
                downloads.push((p.clone(), m.message.message_id.clone(), a.clone()));
            }
        }
    }
    assert!(downloads.len() >= 6, "{} attachments", downloads.len());
    let before = f.sim.connections_accepted();
    let all = downloads.iter().map(|(p, m, a)| download(&session, p, m, a));
    for result in futures::future::join_all(all).await {
        result.unwrap();
    }
    assert!(
        f.sim.connections_accepted() <= before.max(1) + 1,
        "{} downloads at once opened {} connections for 2 slots",
        downloads.len(),
        f.sim.connections_accepted()
    );
    assert_eq!(ebox.requests_in_flight(), 0);
    let (p, m, a) = &downloads[0];
    let held = session.attachment(p, m, a).await.unwrap();
    assert_eq!(ebox.requests_in_flight(), 1, "a download holds its slot while read");
    drop(held);
    assert_eq!(ebox.requests_in_flight(), 0, "and gives it back when dropped");
}

/// Waiting for a slot is not part of a call's budget: a body asked for while every slot is
/// held (by other messages' long downloads) waits and then succeeds, however long the wait.
#[tokio::test]
async fn a_call_waiting_for_a_slot_does_not_spend_its_budget() {
    let f = Fixture::start().await;
    f.generate(2, 1, 10_000);
    let (_ebox, session) = with_slots(&f, 1, |c| c.call_budget = std::time::Duration::from_millis(300));
    let mut listed = Vec::new();
    for p in active_providers(&f, &session).await {
        for m in walk(&session, &p).await.unwrap() {
            listed.push((p.clone(), m.message));
        }
    }
    let (p, first) = listed
        .iter()
        .find(|(_, m)| !m.attachments().is_empty())
        .expect("a message with an attachment");
    let (p2, second) = listed
        .iter()
        .find(|(_, m)| m.message_id != first.message_id)
        .expect("a second message");
    let held = session
        .attachment(p, &first.message_id, &first.attachments()[0])
        .await
        .unwrap();
    let waiting = tokio::spawn({
        let (session, p, id) = (session.clone(), p2.clone(), second.message_id.clone());
        async move { session.body(&p, &id).await }
    });
    // The slot is held for twice the budget before it is given back.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert!(!waiting.is_finished(), "the body waited for the one slot");
    drop(held);
    waiting.await.unwrap().expect("a wait for a slot is not a timeout");
}

/// The e-Box client trusts the roots it is given and nothing else: over HTTPS, a token
/// endpoint whose certificate one of them issued is reached; with roots that do not hold
/// its CA, the handshake fails and the error says so.
#[tokio::test]
async fn the_client_trusts_its_roots_and_no_other_ca() {
    let server = testkit::tls::TlsServer::start(
        "application/json",
        r#"{"access_token":"opaque","token_type":"Bearer","expires_in":3600,"scope":"a"}"#,
    );
    let stranger = testkit::tls::TlsServer::start("application/json", "{}");
    let f = Fixture::start().await;
    let mut config = config(&f.sim);
    config.token_url = format!("{}/token", server.url());
    config.call_budget = std::time::Duration::from_secs(5);

    let trusting = ebox::Ebox::with_roots(config.clone(), &[server.ca().clone()]).unwrap();
    let token = f.session_of(&trusting, CLIENT_ID).access_token().await;
    assert!(token.is_ok(), "{:?}", token.err());

    let distrusting = ebox::Ebox::with_roots(config.clone(), &[stranger.ca().clone()]).unwrap();
    let err = f.session_of(&distrusting, CLIENT_ID).access_token().await.unwrap_err();
    assert!(
        matches!(&err, EboxError::Transport { message, .. } if message.to_lowercase().contains("certificate") || message.contains("UnknownIssuer")),
        "{err:?}"
    );

    let none = ebox::Ebox::with_roots(config, &[]).err().expect("no roots, no client");
    assert!(none.to_string().contains("no trusted root certificates"), "{none}");
}
