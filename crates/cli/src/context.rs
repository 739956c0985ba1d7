//! What every command needs: the AWS clients, the storage names, the stores.

use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use delivery::aws::{AwsClients, DynamoConnections, DynamoState, SecretsManager};
use delivery::config::{Env, StorageNames, vars};
use delivery::stack::{DEFAULT_PREFIX, Stack};

/// The stack `--stack` names, set once by `main`.
static STACK: OnceLock<String> = OnceLock::new();

/// Names the deployed stack every command works on (see [`Context::env`]).
pub fn use_stack(prefix: String) {
    let _ = STACK.set(prefix);
}

pub struct Context {
    pub clients: AwsClients,
    pub names: StorageNames,
    pub connections: Arc<DynamoConnections>,
    pub state: Arc<DynamoState>,
    pub secrets: SecretsManager,
    /// Where connection secrets are named: `<prefix>connections/<entity>/<made at>-<nonce>`.
    pub secrets_prefix: String,
    /// The deployed stack whose names the configuration falls back on.
    pub stack: Stack,
}

impl Context {
    pub async fn from_env() -> anyhow::Result<Self> {
        let clients = AwsClients::new(&delivery::aws::load_from_env().await);
        let mut stack = Stack::new(STACK.get().map_or(DEFAULT_PREFIX, String::as_str));
        if std::env::var_os(vars::VERDEELBAK_BUCKET).is_none() {
            // Not found, or not to be listed: the variable is reported missing below.
            match delivery::aws::bucket_names(&clients).await {
                Ok(names) => stack.bucket = stack.bucket_among(names.iter().map(String::as_str)),
                Err(e) => stack.unlisted = Some(e.to_string()),
            }
        }
        let mut env = Env::new(|name: &str| variable(&stack, name));
        let names = StorageNames::read(&mut env);
        let secrets_prefix = env
            .optional("SECRETS_PREFIX")
            .unwrap_or_else(|| "digipost/ebox/".into());
        finish(env, &stack)?;
        Ok(Self {
            connections: Arc::new(DynamoConnections::new(
                clients.dynamodb.clone(),
                &names.connections_table,
            )),
            state: Arc::new(DynamoState::new(clients.dynamodb.clone(), &names.state_table)),
            secrets: SecretsManager::new(clients.secrets.clone()),
            clients,
            names,
            secrets_prefix,
            stack,
        })
    }

    /// The configuration as the commands read it: each variable from the environment,
    /// else from the stack's names.
    pub fn env(&self) -> Env<impl Fn(&str) -> Option<String> + '_> {
        Env::new(|name: &str| variable(&self.stack, name))
    }

    /// Checks what was read from [`Context::env`], naming the stack where it lacks a name.
    pub fn finish<F: Fn(&str) -> Option<String>>(&self, env: Env<F>) -> anyhow::Result<()> {
        finish(env, &self.stack)
    }

    /// Administering connections, with this process's stores.
    pub fn admin(&self) -> delivery::admin::Admin<'_> {
        delivery::admin::Admin {
            connections: self.connections.as_ref(),
            secrets: &self.secrets,
            secrets_prefix: &self.secrets_prefix,
        }
    }

    /// The e-Box endpoints (EBOX_*), for commands that talk to e-Box.
    pub fn ebox(&self) -> anyhow::Result<ebox::Ebox> {
        let mut env = self.env();
        let config = delivery::config::ebox_config(&mut env);
        self.finish(env)?;
        ebox::Ebox::new(config).context("setting up the e-Box client")
    }
}

/// A variable set in the environment wins over the name the stack gives it.
fn variable(stack: &Stack, name: &str) -> Option<String> {
    std::env::var(name).ok().or_else(|| stack.variable(name))
}

fn finish<F: Fn(&str) -> Option<String>>(env: Env<F>, stack: &Stack) -> anyhow::Result<()> {
    env.finish().map_err(|mut e| {
        for problem in &mut e.problems {
            if let Some(name) = problem.strip_suffix(" is not set") {
                *problem = stack.missing(name);
            }
        }
        anyhow::Error::new(e)
    })
}

pub async fn bootstrap() -> anyhow::Result<ExitCode> {
    let context = Context::from_env().await?;
    let done = delivery::aws::bootstrap::ensure_resources(&context.clients, &context.names).await?;
    for created in &done.created {
        println!("created  {created}");
    }
    for existing in &done.existing {
        println!("exists   {existing}");
    }
    Ok(ExitCode::SUCCESS)
}
