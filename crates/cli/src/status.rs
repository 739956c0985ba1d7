//! `run` and `status`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use delivery::EntityId;
use delivery::config::{Env, FetchConfig};
use delivery::fetch::{FetchRequest, Outcome, RunReport, StoredRun};
use delivery::health::{Action, Health, HealthState};
use delivery::ports::StateSnapshots;
use serde::Serialize;

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
        let mut env = Env::process();
        let function = env.required(delivery::config::vars::FETCH_FUNCTION_NAME);
        env.finish()?;
        delivery::aws::run_fetch(&ctx.clients.lambda, &function, &request)
            .await
            .map_err(anyhow::Error::msg)?
    } else {
        // The same engine the function runs, built the same way.
        let fetcher = delivery::wiring::fetcher(&ctx.clients, &FetchConfig::from_env()?)?;
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

#[derive(Serialize)]
struct Row {
    entity_id: String,
    name: String,
    enabled: bool,
    /// `needs_action`, `degraded` or `ok`; absent before the first run.
    health: Option<HealthState>,
    health_since: Option<DateTime<Utc>>,
    /// Who has to act (`entity` or `digipost`) and the step to redo.
    action_by: Option<&'static str>,
    instruction: Option<&'static str>,
    last_run_at: Option<DateTime<Utc>>,
    outcome: Option<String>,
    delivered: Option<u64>,
    cursor: Option<DateTime<Utc>>,
    last_error: Option<String>,
    certificate_days_to_expiry: Option<i64>,
    undelivered_expires_at: Option<DateTime<Utc>>,
}

/// Every connection, those that need action first; with `needs_action_only`, only those.
pub async fn status(json: bool, needs_action_only: bool) -> anyhow::Result<ExitCode> {
    let ctx = Context::from_env().await?;
    let now = Utc::now();
    let mut rows = Vec::new();
    for c in all_connections(&ctx).await? {
        let state = ctx.state.snapshot(&c.entity_id).await?;
        // A stored run this version does not read is shown as such, never dropped.
        let unreadable = state
            .last_run
            .as_ref()
            .filter(|r| r.report().is_none())
            .map(StoredRun::summary);
        let last: Option<RunReport> = state.last_run.as_ref().and_then(StoredRun::report).cloned();
        // The provider that lags most.
        let cursor = state.cursors.values().map(|c| c.position).min();
        let health = c.health.as_ref();
        if needs_action_only && health.is_none_or(|h| h.state != HealthState::NeedsAction) {
            continue;
        }
        rows.push(Row {
            entity_id: c.entity_id.to_string(),
            name: c.name.clone(),
            enabled: c.enabled,
            health: health.map(|h| h.state),
            health_since: health.map(|h| h.since),
            action_by: health.and_then(|h| h.action).map(Action::by),
            instruction: health.and_then(Health::instruction),
            last_run_at: last.as_ref().map(|r| r.finished_at),
            outcome: last.as_ref().map(|r| r.outcome.to_string()).or(unreadable.clone()),
            delivered: last.as_ref().map(|r| r.delivered),
            cursor,
            last_error: last.as_ref().and_then(|r| {
                r.error
                    .as_ref()
                    .map(|e| format!("{}: {}", e.step, e.message))
                    .or_else(|| r.providers.iter().find_map(|p| p.error.clone()))
                    .or_else(|| {
                        r.providers
                            .iter()
                            .flat_map(|p| &p.failed)
                            .next()
                            .map(|f| f.reason.clone())
                    })
            }),
            certificate_days_to_expiry: last
                .as_ref()
                .and_then(|r| r.certificate_expires_at)
                .map(|t| (t - now).num_days()),
            undelivered_expires_at: last.as_ref().and_then(|r| r.earliest_undelivered_expiry()),
        });
    }
    // What needs a person leads; connections that never ran come after the ok ones.
    rows.sort_by_key(|r| (r.health.unwrap_or(HealthState::Ok), r.health.is_none()));
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
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
        "last error",
    ]);
    let when = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "-".into())
    };
    let or_dash = |n: Option<String>| n.unwrap_or_else(|| "-".into());
    let instructions: Vec<&Row> = rows.iter().filter(|r| r.instruction.is_some()).collect();
    for r in &rows {
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
    Ok(ExitCode::SUCCESS)
}
