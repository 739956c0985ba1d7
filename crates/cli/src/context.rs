//! What every command needs: the AWS clients, the storage names, the stores.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use delivery::aws::{AwsClients, DynamoConnections, DynamoState, SecretsManager};
use delivery::config::{Env, StorageNames};

pub struct Context {
    pub clients: AwsClients,
    pub names: StorageNames,
    pub connections: Arc<DynamoConnections>,
    pub state: Arc<DynamoState>,
    pub secrets: SecretsManager,
    /// Where connection secrets are named: `<prefix>connections/<entity>`.
    pub secrets_prefix: String,
}

impl Context {
    pub async fn from_env() -> anyhow::Result<Self> {
        let mut env = Env::process();
        let names = StorageNames::read(&mut env);
        let secrets_prefix = env
            .optional("SECRETS_PREFIX")
            .unwrap_or_else(|| "digipost/ebox/".into());
        env.finish()?;
        let clients = AwsClients::new(&delivery::aws::load_from_env().await);
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
        })
    }

    /// The e-Box endpoints (EBOX_*), for commands that talk to e-Box.
    pub fn ebox(&self) -> anyhow::Result<ebox::Ebox> {
        let mut env = Env::process();
        let config = delivery::config::ebox_config(&mut env);
        env.finish()?;
        ebox::Ebox::new(config).context("setting up the e-Box client")
    }
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
