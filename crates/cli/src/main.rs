//! `digipost-ebox`: what an operator does by hand.

use clap::{Parser, Subcommand};
use delivery::config::{Env, StorageNames};

#[derive(Parser)]
#[command(name = "digipost-ebox", about = "Operate the e-Box to verdeelbak delivery", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the connections and state tables and the verdeelbak bucket with the schema
    /// infra/ declares (for local runs against moto); what exists is left alone.
    /// Reads CONNECTIONS_TABLE, STATE_TABLE and VERDEELBAK_BUCKET.
    Bootstrap,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Bootstrap => {
            let mut env = Env::process();
            let names = StorageNames::read(&mut env);
            env.finish()?;
            let clients = delivery::aws::AwsClients::new(&delivery::aws::load_from_env().await);
            let done = delivery::aws::bootstrap::ensure_resources(&clients, &names).await?;
            for created in &done.created {
                println!("created  {created}");
            }
            for existing in &done.existing {
                println!("exists   {existing}");
            }
        }
    }
    Ok(())
}
