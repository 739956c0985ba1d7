//! One run of one entity, from the request to the stored status: the story of a run, told
//! by the steps it hands each part to. Each step holds only the ports it uses.

use std::collections::BTreeMap;

use ebox::model::{Discovery, MessageProvider, ProviderState};
use tokio::time::Instant;

use super::deliver::Deliverer;
use super::failure::fail;
use super::lease::LazyLease;
use super::outbox::Publisher;
use super::session::Opening;
use super::status::{Before, Closing};
use super::walk::{Plan, Walker};
use super::{FetchRequest, Fetcher, Outcome, ProviderReport, ProviderStatus, RunError, RunReport, Step, reconcile};
use crate::EntityId;
use crate::ports::*;
use crate::run::previous_run;
use crate::verdeelbak::keys;

/// What a run walks with, once it knows the entity is its to run.
struct Walking<'a> {
    entity: &'a EntityId,
    connection: &'a Connection,
    cursors: &'a BTreeMap<String, Cursor>,
    lease: &'a LazyLease<'a>,
    publisher: &'a Publisher<'a>,
    /// Earlier runs may have left events pending: they left some, or one died.
    look_for_pending: bool,
    plan: Plan,
}

impl Fetcher {
    /// Runs one entity. Every outcome is a report, failures included.
    pub async fn run(&self, request: &FetchRequest, deadline: Option<Instant>) -> RunReport {
        let started_at = self.clock.now();
        let clock = Instant::now();
        let run_id = uuid::Uuid::new_v4().to_string();
        let mut report = RunReport::new(run_id.clone(), request.entity_id.clone(), request.dry_run, started_at);
        // Every log line of the run carries the entity and the run.
        let span = tracing::info_span!("run", entity_id = %request.entity_id, run_id = %run_id);
        let result =
            tracing::Instrument::instrument(self.run_entity(request, deadline, &run_id, &mut report), span).await;
        if let Err(e) = result {
            report.outcome = Outcome::Failed;
            report.error = Some(e);
        }
        report.finish(self.clock.now(), clock.elapsed());
        report
    }

    /// Check the request and the connection; read the entity's state in one query; leave
    /// an entity another run holds; walk (the lease kept alive meanwhile); close.
    async fn run_entity(
        &self,
        request: &FetchRequest,
        deadline: Option<Instant>,
        run_id: &str,
        report: &mut RunReport,
    ) -> Result<(), RunError> {
        let entity = EntityId::parse(&request.entity_id).map_err(|e| fail(Step::Input, e.to_string(), false))?;
        let connection = self.connection(&entity).await?;
        let state = (self.stores.snapshots.snapshot(&entity).await)
            .map_err(|e| fail(Step::State, e.to_string(), e.retryable))?;
        // The last successful run so far, carried from run to run for the metrics.
        let (previous, last_success_at) = previous_run(state.last_run);
        report.last_success_at = last_success_at;
        report.last_reconcile_at = previous.as_ref().and_then(|p| p.last_reconcile_at);
        let now = self.clock.now();
        if !request.dry_run
            && let Some(lease) = state.lease.as_ref().filter(|l| l.holder != run_id && l.until > now)
        {
            report.already_running(&lease.holder, lease.until);
            return Ok(());
        }
        let reconcile = request.reconcile
            || self.settings.reconcile_interval.is_some_and(|interval| {
                let previous_run = previous.as_ref().map(|p| p.finished_at);
                reconcile::due(&entity, report.last_reconcile_at, previous_run, now, interval)
            });
        let (leases, clock) = (self.stores.leases.as_ref(), self.clock.as_ref());
        let lease = LazyLease::new(leases, clock, self.settings.lease_duration, &entity, run_id);
        let ledger = self.stores.ledger.as_ref();
        let publisher = Publisher::new(&entity, ledger, self.objects.as_ref(), self.events.as_ref(), &lease);
        // A lease still there (expired) is a run that died: it may have left events.
        let look_for_pending = previous.as_ref().is_none_or(|p| p.events.pending > 0) || state.lease.is_some();
        let walking = Walking {
            entity: &entity,
            connection: &connection,
            cursors: &state.cursors,
            lease: &lease,
            publisher: &publisher,
            look_for_pending: look_for_pending && !request.dry_run,
            plan: Plan {
                dry_run: request.dry_run,
                since: request.since,
                reconcile,
                deadline,
            },
        };
        // The lease is renewed for as long as the providers are read.
        let outcome = tokio::select! {
            outcome = self.walk(walking, request, report) => outcome,
            () = lease.keep_alive() => unreachable!("keep_alive never returns"),
        };
        report.events = publisher.report();
        let before = Before {
            run: previous.as_ref(),
            health: connection.health.as_ref(),
            awaits_first_message: (connection.onboarding.as_ref())
                .is_some_and(|o| o.first_message_delivered_at.is_none()),
        };
        self.closing(&entity, &lease).finish(report, outcome, before).await
    }

    /// Open the session; walk each provider discovery lists, under the id its registry
    /// is stored under; publish what earlier runs left pending; account for a reconcile.
    async fn walk(&self, w: Walking<'_>, request: &FetchRequest, report: &mut RunReport) -> Result<(), RunError> {
        let opening = Opening {
            entity: w.entity,
            connection: w.connection,
            secrets: self.secrets.as_ref(),
            ebox: self.ebox.as_ref(),
            clock: self.clock.as_ref(),
        };
        let (session, discovery) = opening.open(report).await?;
        let deliverer = self.deliverer(&w, session.as_ref());
        let reconcile = w.plan.reconcile;
        let walker = Walker {
            entity: w.entity,
            mailbox: session.as_ref(),
            ledger: self.stores.ledger.as_ref(),
            cursor_store: self.stores.cursors.as_ref(),
            cursors: w.cursors,
            deliverer: &deliverer,
            lease: w.lease,
            clock: self.clock.as_ref(),
            settings: &self.settings,
            plan: w.plan,
        };
        let listed: Vec<&str> = discovery
            .providers
            .iter()
            .map(|p| p.message_provider_id.as_str())
            .collect();
        for provider in wanted(&discovery, request) {
            match provider.state(self.clock.now()) {
                ProviderState::Active => report.providers.push(walker.identified(provider, &listed).await),
                ProviderState::InMaintenance { until } => report.providers.push(ProviderReport {
                    provider_id: provider.message_provider_id.clone(),
                    state: ProviderStatus::Maintenance,
                    error: Some(format!("planned maintenance until {}", until.to_rfc3339())),
                    ..ProviderReport::default()
                }),
                ProviderState::NotYetActive | ProviderState::Deactivated => {}
            }
            if w.lease.halted()? {
                break;
            }
        }
        if w.look_for_pending && !w.lease.halted()? {
            w.publisher.publish_pending().await;
        }
        if reconcile {
            reconcile::account(report, self.clock.now());
        }
        Ok(())
    }

    /// The connection, if it may be run.
    async fn connection(&self, entity: &EntityId) -> Result<Connection, RunError> {
        let connection = (self.connections.get(entity).await)
            .map_err(|e| fail(Step::Connection, e.to_string(), e.retryable))?
            .ok_or_else(|| fail(Step::Connection, format!("no connection for entity {entity}"), false))?;
        keys::check_prefix_shape(&connection.verdeelbak_prefix)
            .map_err(|e| fail(Step::Connection, format!("entity {entity}: {e}"), false))?;
        if !connection.enabled {
            let message = format!("the connection of entity {entity} is disabled");
            return Err(fail(Step::Connection, message, false));
        }
        if !connection.is_connected() {
            let step = connection.onboarding_step();
            let message =
                format!("the connection of entity {entity} is not connected yet: its onboarding is at step {step}");
            return Err(fail(Step::Connection, message, false));
        }
        Ok(connection)
    }

    fn deliverer<'a>(&'a self, w: &Walking<'a>, mailbox: &'a dyn Mailbox) -> Deliverer<'a> {
        Deliverer {
            entity: w.entity,
            prefix: &w.connection.verdeelbak_prefix,
            mailbox,
            objects: self.objects.as_ref(),
            ledger: self.stores.ledger.as_ref(),
            clock: self.clock.as_ref(),
            lease: w.lease,
            publisher: w.publisher,
            spool_dir: &self.settings.spool_dir,
        }
    }

    fn closing<'a>(&'a self, entity: &'a EntityId, lease: &'a LazyLease<'a>) -> Closing<'a> {
        Closing {
            entity,
            reports: self.stores.reports.as_ref(),
            connections: self.connections.as_ref(),
            lease,
            clock: self.clock.as_ref(),
            status_interval: self.settings.status_interval,
        }
    }
}

/// The providers the request asks for (all, unless it names some).
fn wanted<'d>(discovery: &'d Discovery, request: &'d FetchRequest) -> impl Iterator<Item = &'d MessageProvider> {
    let only = request.providers.as_ref();
    (discovery.providers.iter()).filter(move |p| only.is_none_or(|only| only.contains(&p.message_provider_id)))
}
