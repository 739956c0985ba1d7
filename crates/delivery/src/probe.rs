//! Does a connection work? Get a token, discover the providers, read a summary: what the
//! CLI's `connections test` and `connections add` say, and what a person is to do next.

use chrono::Utc;
use ebox::EboxError;
use ebox::model::ProviderState;

use crate::fetch::credentials;
use crate::health::Action;
use crate::ports::{Connection, SecretStore};

/// What a probe found: whether the connection works, and a sentence saying so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub works: bool,
    pub text: String,
    /// Where it failed (`secret`, `configuration`, `token`, `providers`, `listing`).
    pub step: Option<&'static str>,
    /// The step a person redoes, when a refusal names one ([`Action::for_ebox`]).
    pub action: Option<Action>,
}

impl Verdict {
    /// What an onboarding records of this test: nothing when it worked.
    pub fn refusal(&self) -> Option<crate::onboarding::Refusal> {
        (!self.works).then(|| crate::onboarding::Refusal {
            action: self.action,
            reason: self.text.clone(),
        })
    }
}

/// What the people involved can do about a refusal: the step the health names for it
/// ([`Action::for_ebox`]), else whether to wait or to check the configuration.
pub fn next_step(e: &EboxError, certificate_expired: bool) -> String {
    match Action::for_ebox(e, certificate_expired) {
        Some(action) => format!("{} ({} acts)", action.instruction(), action.by()),
        None if e.retryable() => "e-Box is unavailable right now: try `connections test` again later".into(),
        None => "check EBOX_TOKEN_URL, EBOX_AUDIENCE and EBOX_PROVIDER_REGISTRY_URL".into(),
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
    let fail = |step: &'static str, cause: String, action: Option<Action>, next: String| Verdict {
        works: false,
        text: format!("the connection of {id} does NOT work: step {step}: {cause}\n  next: {next}"),
        step: Some(step),
        action,
    };
    let pairs = match credentials::resolve_pairs(secrets, connection).await {
        Ok(c) => c,
        // Secrets Manager unavailable: nobody has to redo anything, a later test will do.
        Err(e) if e.retryable() => {
            let next = "Secrets Manager is unavailable right now: test again later";
            return fail("secret", e.to_string(), None, next.into());
        }
        Err(e) => {
            let next = "store the key material again with `connections remove` and `connections add`";
            let action = (connection.credentials != crate::ports::CredentialsRef::AwaitingClientId)
                .then_some(Action::ConnectionSecret);
            return fail("secret", e.to_string(), action, next.into());
        }
    };
    let ebox = match ebox {
        Ok(e) => e,
        Err(e) => return fail("configuration", e, None, "set the EBOX_* variables".into()),
    };
    let (session, pair, certificate) = match first_accepted(ebox, &pairs, connection).await {
        Ok((session, pair, credentials)) => (session, pair, credentials.key.certificate().clone()),
        Err((e, tried)) => {
            let expired = tried.key.certificate().days_until_expiry(Utc::now()) < 0;
            return fail(
                "token",
                e.to_string(),
                Action::for_ebox(&e, expired),
                next_step(&e, expired),
            );
        }
    };
    let discovery = match session.providers().await {
        Ok(p) => p,
        Err(e) => {
            return fail(
                "providers",
                e.to_string(),
                Action::for_ebox(&e, false),
                next_step(&e, false),
            );
        }
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
            None,
            "check EBOX_PROVIDER_REGISTRY_URL".into(),
        );
    };
    match session.summary(first).await {
        Ok(summary) => Verdict {
            works: true,
            text: works(id, pair, &active, &summary, &certificate),
            step: None,
            action: None,
        },
        Err(e) => fail(
            "listing",
            e.to_string(),
            Action::for_ebox(&e, false),
            next_step(&e, false),
        ),
    }
}

/// What a probe that got through says.
fn works(
    id: &crate::EntityId,
    pair: credentials::Pair,
    active: &[&ebox::model::MessageProvider],
    summary: &serde_json::Value,
    certificate: &ebox::CertificateInfo,
) -> String {
    let ids: Vec<&str> = active.iter().map(|p| p.message_provider_id.as_str()).collect();
    format!(
        "the connection of {id} works: token obtained with the {pair} certificate, {} active provider(s) ({}), {} message(s) in {}; certificate valid for {} more days",
        active.len(),
        ids.join(", "),
        summary["numberOfMessages"],
        ids[0],
        certificate.days_until_expiry(Utc::now())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Secrets(fn(&str) -> crate::ports::SecretError);

    #[async_trait::async_trait]
    impl SecretStore for Secrets {
        async fn get(&self, id: &str) -> Result<secrecy::SecretString, crate::ports::SecretError> {
            Err((self.0)(id))
        }
    }

    #[tokio::test]
    async fn a_secret_that_cannot_be_read_names_a_step_only_when_a_person_can_mend_it() {
        use crate::ports::{CredentialsRef, SecretError};
        let entity = crate::EntityId::parse("0403170701").unwrap();
        let own = CredentialsRef::Secret { secret_id: "s".into() };
        let connection = Connection::new(entity, "E", own, Utc::now());
        let down = Secrets(|id| SecretError::Unavailable {
            id: id.into(),
            message: "throttled".into(),
            retryable: true,
        });
        let verdict = probe(&down, Err("no e-Box here".into()), &connection).await;
        assert!(
            !verdict.works && verdict.text.contains("test again later"),
            "{}",
            verdict.text
        );
        assert_eq!((verdict.step, verdict.action), (Some("secret"), None));
        let gone = Secrets(|id| SecretError::NotFound { id: id.into() });
        let verdict = probe(&gone, Err("no e-Box here".into()), &connection).await;
        assert_eq!(
            (verdict.step, verdict.action),
            (Some("secret"), Some(Action::ConnectionSecret))
        );
    }

    #[test]
    fn a_refusal_names_the_step_health_names() {
        let refused = |status: u16, code: &str| EboxError::TokenRefused {
            status,
            code: code.into(),
            description: String::new(),
        };
        for e in [
            refused(401, ""),
            refused(403, ""),
            refused(400, "unauthorized_client"),
            refused(401, "invalid_client"),
        ] {
            let next = next_step(&e, false);
            assert!(next.starts_with(Action::WebserviceAccount.instruction()), "{e}: {next}");
            assert_eq!(Action::for_ebox(&e, false), Some(Action::WebserviceAccount));
        }
        let expired = next_step(&refused(400, "invalid_client"), true);
        assert!(
            expired.starts_with(Action::CertificateUpload.instruction()),
            "{expired}"
        );
        let down = EboxError::Timeout { what: "token".into() };
        assert!(next_step(&down, false).contains("again later"));
    }
}
