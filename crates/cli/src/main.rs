//! `digipost-ebox`: what an operator does by hand. It works against the same tables,
//! secrets and bucket as the functions (locally: moto through `AWS_ENDPOINT_URL`).

mod certificate;
mod connections;
mod context;
mod events;
mod key_material;
mod status;

use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "digipost-ebox",
    about = "Operate the delivery of e-Box Enterprise mail into verdeelbakken",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the connections and state tables and the verdeelbak bucket with the schema
    /// infra/ declares (for local runs against moto); what exists is left alone.
    Bootstrap,
    /// DigiPost's certificate renewed across every entity: new, stage, status, promote.
    #[command(subcommand)]
    Certificate(certificate::Command),
    /// The connections: add, list, show, enable, disable, remove, test.
    #[command(subcommand)]
    Connections(connections::Command),
    /// The events of delivered messages: replay.
    #[command(subcommand)]
    Events(events::Command),
    /// Fetch one entity now: in this process, or with --remote through the deployed function.
    Run {
        #[arg(long)]
        entity: String,
        /// Re-deliver what is not yet delivered from this date on (YYYY-MM-DD).
        #[arg(long)]
        since: Option<NaiveDate>,
        /// Walk and list what would be written; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Reconcile now: list everything e-Box holds and deliver what the ledger lacks.
        #[arg(long)]
        reconcile: bool,
        /// Invoke the deployed fetch function (FETCH_FUNCTION_NAME) instead.
        #[arg(long)]
        remote: bool,
        #[arg(long)]
        json: bool,
    },
    /// One row per connection, those that need action first: health, last run, delivered,
    /// cursor, last error, certificate expiry.
    Status {
        #[arg(long)]
        json: bool,
        /// Only the connections that need a person to act, with the step to redo.
        #[arg(long)]
        needs_action: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bootstrap => context::bootstrap().await,
        Command::Certificate(command) => certificate::run(command).await,
        Command::Connections(command) => connections::run(command).await,
        Command::Events(command) => events::run(command).await,
        Command::Run {
            entity,
            since,
            dry_run,
            reconcile,
            remote,
            json,
        } => status::run_now(&entity, since, dry_run, reconcile, remote, json).await,
        Command::Status { json, needs_action } => status::status(json, needs_action).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// A plain table for a terminal or a pipe: a header, columns as wide as their widest cell.
fn table<const N: usize>(header: [&str; N]) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING).set_header(header);
    table
}
