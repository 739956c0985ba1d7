//! `events replay`: the events of delivered messages published again, from the ledger.

use std::process::ExitCode;

use anyhow::Context as _;
use chrono::NaiveDate;
use clap::Subcommand;
use delivery::EntityId;
use delivery::aws::{EventBridgeBus, S3Objects};

use crate::context::Context;

#[derive(Subcommand)]
pub enum Command {
    /// Publish again the events of an entity's delivered messages (from the ledger, with
    /// their own ids), for a consumer that lost its own.
    Replay {
        /// The entity's enterprise number (KBO), e.g. 0403.170.701.
        #[arg(long)]
        entity: String,
        /// Only messages delivered on or after this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        since: Option<NaiveDate>,
        /// Print JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    let Command::Replay { entity, since, json } = command;
    let id = EntityId::parse_lenient(&entity)
        .with_context(|| format!("entity {entity:?} is not a valid enterprise number"))?;
    let ctx = Context::from_env().await?;
    let objects = S3Objects::new(&ctx.clients, &ctx.names.verdeelbak_bucket);
    let bus = EventBridgeBus::new(ctx.clients.events.clone(), &ctx.names.event_bus);
    let since = since.map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    let report = delivery::events::replay(ctx.state.as_ref(), &objects, &bus, &id, since)
        .await
        .with_context(|| format!("entity {id}: replaying its events"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "entity {id}: {} of {} event(s) published again on {}",
            report.published, report.rows, ctx.names.event_bus
        );
        for failed in &report.failed {
            println!("  not published: {failed}");
        }
    }
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
