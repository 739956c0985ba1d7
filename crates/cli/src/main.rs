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
    /// The deployed stack: the name prefix Terraform gave its resources. Its tables, bus,
    /// fetch function and bucket are found by it; CONNECTIONS_TABLE, STATE_TABLE,
    /// VERDEELBAK_BUCKET, EVENT_BUS_NAME and FETCH_FUNCTION_NAME, when set, win.
    #[arg(long, global = true, env = delivery::stack::STACK_VARIABLE, default_value = delivery::stack::DEFAULT_PREFIX)]
    stack: String,
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
        /// The entity's enterprise number (KBO), e.g. 0403.170.701.
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
        /// Print JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// One row per connection, those that need action first: health, last run, delivered,
    /// cursor, last error, certificate expiry, and the onboarding step (stuck ones after
    /// ONBOARDING_STUCK_AFTER_DAYS, 14 by default, on one step).
    Status {
        /// Print JSON instead of a summary.
        #[arg(long)]
        json: bool,
        /// Only the connections that need a person to act, with the step to redo (stuck
        /// onboardings among them).
        #[arg(long)]
        needs_action: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    context::use_stack(cli.stack);
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand and every flag, however deep, with the line `--help` shows for it.
    fn undocumented(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !builtin && arg.get_help().is_none() {
                missing.push(format!("{path} --{}", arg.get_id()));
            }
        }
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            let path = format!("{path} {}", sub.get_name());
            if sub.get_about().is_none() {
                missing.push(path.clone());
            }
            undocumented(sub, &path, missing);
        }
    }

    #[test]
    fn every_flag_and_subcommand_has_a_help_line() {
        let mut missing = Vec::new();
        undocumented(&super::Cli::command(), "digipost-ebox", &mut missing);
        assert!(missing.is_empty(), "no help line: {missing:#?}");
    }
}
