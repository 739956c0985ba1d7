//! Does a connection work? Get a token, discover the providers, read a summary: what the
//! CLI's `connections test` and `connections add` say, and what a person is to do next.

use chrono::Utc;
use ebox::EboxError;
use ebox::model::ProviderState;

use crate::fetch::credentials;
use crate::ports::{Connection, SecretStore};

/// What a probe found: whether the connection works, and a sentence saying so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub works: bool,
    pub text: String,
}

/// What the people involved can do about a refusal.
pub fn next_step(e: &EboxError) -> &'static str {
    match e {
        EboxError::TokenRefused { code, .. } if code == "invalid_client" => {
            "check that the ClientID is the one of the entity's \"DocConsumer e-Box Enterprise\" REST account and that the account holds DigiPost's certificate"
        }
        EboxError::ScopeRefused { .. } => {
            "leave EBOX_SCOPES and the connection's scopes unset (the token then carries every granted scope), or add the connection again with --scopes naming what its REST account was granted"
        }
        EboxError::ScopeMissing { .. } => {
            "the token lacks a scope: ask the entity to grant its \"DocConsumer e-Box Enterprise\" REST account the document-consumer scope, or check EBOX_SCOPES and the connection's scopes"
        }
        e if e.retryable() => "e-Box is unavailable right now: try `connections test` again later",
        _ => "check EBOX_TOKEN_URL, EBOX_AUDIENCE and EBOX_PROVIDER_REGISTRY_URL",
    }
}

/// A session with a token, from the first key pair e-Box accepts (as a run tries them).
async fn first_accepted<'a>(
    ebox: &ebox::Ebox,
    pairs: &'a credentials::KeyPairs,
    connection: &Connection,
) -> Result<(ebox::Session, credentials::Pair, &'a ebox::ClientCredentials), (EboxError, &'a ebox::ClientCredentials)> {
    pairs
        .first_accepted(|credentials| {
            let session = ebox.session(credentials.clone()).with_scopes(connection.scopes.clone());
            async move { session.access_token().await.map(|_| session) }
        })
        .await
}

/// Probes `connection` with the key material `secrets` hold for it; `ebox` is the client
/// of this process, or why there is none.
pub async fn probe(secrets: &dyn SecretStore, ebox: Result<&ebox::Ebox, String>, connection: &Connection) -> Verdict {
    let id = &connection.entity_id;
    let fail = |step: &str, cause: String, next: &str| Verdict {
        works: false,
        text: format!("the connection of {id} does NOT work: step {step}: {cause}\n  next: {next}"),
    };
    let pairs = match credentials::resolve_pairs(secrets, connection).await {
        Ok(c) => c,
        Err(e) => {
            let next = "store the key material again with `connections remove` and `connections add`";
            return fail("secret", e.to_string(), next);
        }
    };
    let ebox = match ebox {
        Ok(e) => e,
        Err(e) => return fail("configuration", e, "set the EBOX_* variables"),
    };
    let (session, pair, certificate) = match first_accepted(ebox, &pairs, connection).await {
        Ok((session, pair, credentials)) => (session, pair, credentials.key.certificate().clone()),
        Err((e, _)) => return fail("token", e.to_string(), next_step(&e)),
    };
    let discovery = match session.providers().await {
        Ok(p) => p,
        Err(e) => return fail("providers", e.to_string(), next_step(&e)),
    };
    let now = Utc::now();
    let active: Vec<_> = discovery
        .providers
        .iter()
        .filter(|p| p.state(now) == ProviderState::Active)
        .collect();
    let Some(first) = active.first() else {
        return fail(
            "providers",
            "no active provider".into(),
            "check EBOX_PROVIDER_REGISTRY_URL",
        );
    };
    match session.summary(first).await {
        Ok(summary) => Verdict {
            works: true,
            text: format!(
                "the connection of {id} works: token obtained with the {} certificate, {} active provider(s) ({}), {} message(s) in {}; certificate valid for {} more days",
                match pair {
                    credentials::Pair::Current => "current",
                    credentials::Pair::Next => "next",
                },
                active.len(),
                active
                    .iter()
                    .map(|p| p.message_provider_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                summary["numberOfMessages"],
                first.message_provider_id,
                certificate.days_until_expiry(now)
            ),
        },
        Err(e) => fail("listing", e.to_string(), next_step(&e)),
    }
}
