//! `run` and `status`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use delivery::EntityId;
use delivery::config::FetchConfig;
use delivery::connection_status::{ConnectionStatus, connection_statuses};
use delivery::fetch::{FetchRequest, Outcome, RunReport};

use crate::connections::all_connections;
use crate::context::Context;

pub async fn run_now(
    raw: &str,
    since: Option<NaiveDate>,
    dry_run: bool,
    reconcile: bool,
    remote: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let id =
        EntityId::parse_lenient(raw).with_context(|| format!("entity {raw:?} is not a valid enterprise number"))?;
    let request = FetchRequest {
        entity_id: id.to_string(),
        since,
        dry_run,
        providers: None,
        reconcile,
    };
    let ctx = Context::from_env().await?;
    let report: RunReport = if remote {
        let mut env = ctx.env();
        let function = env.required(delivery::config::vars::FETCH_FUNCTION_NAME);
        ctx.finish(env)?;
        delivery::aws::run_fetch(&ctx.clients.lambda, &function, &request)
            .await
            .map_err(anyhow::Error::msg)?
    } else {
        // The same engine the function runs, built the same way.
        let fetcher = delivery::wiring::fetcher(&ctx.clients, &FetchConfig::read(ctx.env())?)?;
        let progress = indicatif::ProgressBar::new_spinner();
        progress.set_message(format!("fetching {id}{}", if dry_run { " (dry run)" } else { "" }));
        progress.enable_steady_tick(Duration::from_millis(120));
        let report = fetcher.run(&request, None).await;
        progress.finish_and_clear();
        report
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(match report.outcome {
        Outcome::Ok | Outcome::AlreadyRunning => ExitCode::SUCCESS,
        Outcome::Partial | Outcome::Failed => ExitCode::from(1),
    })
}

fn print_report(r: &RunReport) {
    let outcome = serde_json::to_value(r.outcome).unwrap_or_default();
    println!(
        "entity {}: {} ({} delivered, {} failed, {} bytes, {} ms)",
        r.entity_id,
        outcome.as_str().unwrap_or("?"),
        r.delivered,
        r.failed,
        r.bytes,
        r.duration_ms
    );
    if let Some(e) = &r.error {
        println!("  error at step {}: {}", e.step, e.message);
    }
    if let Some(holder) = &r.held_by {
        println!("  already running: {holder}");
    }
    for p in &r.providers {
        println!(
            "  {:<20} {:<11} listed {:>5}  new {:>5}  delivered {:>5}  already {:>5}  failed {:>3}{}",
            p.provider_id,
            p.state,
            p.listed,
            p.new,
            p.delivered,
            p.already_delivered,
            p.failed.len(),
            p.error.as_ref().map(|e| format!("  ({e})")).unwrap_or_default()
        );
        for f in &p.failed {
            println!("    message {} failed at {}: {}", f.message_id, f.step, f.reason);
        }
        for key in &p.would_write {
            println!("    would write {key}");
        }
    }
}

/// Every connection, those that need action first; with `needs_action_only`, only those.
pub async fn status(json: bool, needs_action_only: bool) -> anyhow::Result<ExitCode> {
    let ctx = Context::from_env().await?;
    let connections = all_connections(&ctx).await?;
    let mut env = ctx.env();
    let stuck_days = env.parsed_or(
        "ONBOARDING_STUCK_AFTER_DAYS",
        delivery::fleet::DEFAULT_ONBOARDING_STUCK_DAYS,
    );
    ctx.finish(env)?;
    let stuck_after = chrono::Duration::days(stuck_days.max(1));
    let rows = connection_statuses(
        connections,
        ctx.state.as_ref(),
        needs_action_only,
        stuck_after,
        Utc::now(),
    )
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print_statuses(&rows);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_statuses(rows: &[ConnectionStatus]) {
    let mut table = crate::table([
        "entity",
        "name",
        "enabled",
        "health",
        "last run",
        "outcome",
        "delivered",
        "cursor",
        "cert days",
        "undelivered exp.",
        "onboarding",
        "last error",
    ]);
    let when = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "-".into())
    };
    let or_dash = |n: Option<String>| n.unwrap_or_else(|| "-".into());
    let instructions: Vec<&ConnectionStatus> = rows.iter().filter(|r| r.instruction.is_some()).collect();
    for r in rows {
        table.add_row([
            r.entity_id.clone(),
            r.name.chars().take(28).collect::<String>(),
            r.enabled.to_string(),
            or_dash(r.health.map(|h| h.to_string())),
            when(r.last_run_at),
            r.outcome.clone().unwrap_or_else(|| "never ran".into()),
            or_dash(r.delivered.map(|d| d.to_string())),
            when(r.cursor),
            or_dash(r.certificate_days_to_expiry.map(|d| d.to_string())),
            when(r.undelivered_expires_at),
            match r.stuck_days {
                Some(days) => format!("{} (stuck {days} days)", r.onboarding),
                None => r.onboarding.to_string(),
            },
            r.last_error.clone().unwrap_or_default(),
        ]);
    }
    println!("{table}");
    for r in instructions {
        println!(
            "\n{} ({}), needs action by {}:\n  {}",
            r.entity_id,
            r.name,
            r.action_by.unwrap_or("?"),
            r.instruction.unwrap_or_default()
        );
    }
}
