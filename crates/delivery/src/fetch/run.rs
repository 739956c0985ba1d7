//! One run of one entity: from the request to the stored status.

use std::collections::BTreeMap;

use ebox::model::ProviderState;
use tokio::time::Instant;

use super::lease::{LazyLease, LeaseState};
use super::open_run::Run;
use super::outbox::EventTally;
use super::reconcile;
use super::status::status_due;
use super::{FetchRequest, Fetcher, Outcome, ProviderReport, ProviderStatus, RunError, RunReport, Step};
use crate::EntityId;
use crate::health::{self, Health};
use crate::ports::*;
use crate::run::previous_run;
use crate::verdeelbak::keys;

pub(super) fn fail(step: Step, message: String, retryable: bool) -> RunError {
    RunError {
        step,
        message,
        retryable,
    }
}

/// What the entity's stores said before this run: its last run and its health.
struct Before<'a> {
    run: Option<&'a RunReport>,
    health: Option<&'a Health>,
}

/// What a run starts from, once it knows the entity is its to run.
struct Start<'a> {
    entity: EntityId,
    connection: Connection,
    cursors: BTreeMap<String, Cursor>,
    lease: &'a LazyLease<'a>,
    events: &'a EventTally,
    /// Earlier runs may have left events pending: they left some, or one died.
    look_for_pending: bool,
    /// This run walks everything e-Box holds.
    reconcile: bool,
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

    /// The connection, if it may be run.
    async fn connection(&self, entity: &EntityId) -> Result<Connection, RunError> {
        let connection = self
            .connections
            .get(entity)
            .await
            .map_err(|e| fail(Step::Connection, e.to_string(), e.retryable))?
            .ok_or_else(|| fail(Step::Connection, format!("no connection for entity {entity}"), false))?;
        keys::check_prefix_shape(&connection.verdeelbak_prefix)
            .map_err(|e| fail(Step::Connection, format!("entity {entity}: {e}"), false))?;
        if !connection.enabled {
            return Err(fail(
                Step::Connection,
                format!("the connection of entity {entity} is disabled"),
                false,
            ));
        }
        Ok(connection)
    }

    async fn run_entity(
        &self,
        request: &FetchRequest,
        deadline: Option<Instant>,
        run_id: &str,
        report: &mut RunReport,
    ) -> Result<(), RunError> {
        let entity = EntityId::parse(&request.entity_id).map_err(|e| fail(Step::Input, e.to_string(), false))?;
        let connection = self.connection(&entity).await?;
        let state = self
            .stores
            .snapshots
            .snapshot(&entity)
            .await
            .map_err(|e| fail(Step::State, e.to_string(), e.retryable))?;
        // The last successful run so far, carried from run to run for the metrics.
        let (previous, last_success_at) = previous_run(state.last_run);
        report.last_success_at = last_success_at;
        report.last_reconcile_at = previous.as_ref().and_then(|p| p.last_reconcile_at);
        let now = self.clock.now();
        let reconcile = request.reconcile
            || self.settings.reconcile_interval.is_some_and(|interval| {
                let previous_run = previous.as_ref().map(|p| p.finished_at);
                reconcile::due(&entity, report.last_reconcile_at, previous_run, now, interval)
            });
        if !request.dry_run
            && let Some(lease) = state.lease.as_ref().filter(|l| l.holder != run_id && l.until > now)
        {
            report.already_running(&lease.holder, lease.until);
            return Ok(());
        }
        let stored_health = connection.health.clone();
        let lease = LazyLease::new(self, &entity, run_id);
        let events = EventTally::default();
        // A lease still there (expired) is a run that died: it may have left events.
        let look_for_pending = previous.as_ref().is_none_or(|p| p.events.pending > 0) || state.lease.is_some();
        let start = Start {
            entity: entity.clone(),
            connection,
            cursors: state.cursors,
            lease: &lease,
            events: &events,
            look_for_pending: look_for_pending && !request.dry_run,
            reconcile,
        };
        // The lease is renewed for as long as the providers are read.
        let outcome = tokio::select! {
            outcome = self.read_providers(start, request, deadline, report) => outcome,
            () = lease.keep_alive() => unreachable!("keep_alive never returns"),
        };
        report.events = events.report();
        let before = Before {
            run: previous.as_ref(),
            health: stored_health.as_ref(),
        };
        self.finish(&entity, request, report, outcome, before, &lease).await
    }

    /// After the walk: the status, while the lease still fences it, then the lease goes.
    async fn finish(
        &self,
        entity: &EntityId,
        request: &FetchRequest,
        report: &mut RunReport,
        outcome: Result<(), RunError>,
        before: Before<'_>,
        lease: &LazyLease<'_>,
    ) -> Result<(), RunError> {
        if let Some(LeaseState::Held(held)) = lease.state() {
            // Another run started in the meantime: it carries on, and its status counts.
            report.already_running(&held.holder, held.until);
            return Ok(());
        }
        if request.dry_run {
            return outcome;
        }
        if lease.is_lost() {
            // Another run took the entity over: its status counts, and nothing more of
            // this one is written.
            return Err(fail(
                Step::Lease,
                format!("entity {entity}: the lease was taken over by another run; this run stopped writing"),
                true,
            ));
        }
        // The status first, while the lease still fences it; then the lease goes.
        self.store_status(entity, report, &outcome, before, lease).await;
        if lease.acquired()
            && let Err(e) = self.stores.leases.release(entity, lease.run_id()).await
        {
            tracing::warn!(error = %e, "lease not released; it expires by itself");
        }
        outcome
    }

    async fn store_status(
        &self,
        entity: &EntityId,
        report: &RunReport,
        outcome: &Result<(), RunError>,
        before: Before<'_>,
        lease: &LazyLease<'_>,
    ) {
        let wrote = lease.acquired();
        let mut last = report.clone();
        if let Err(e) = outcome {
            last.outcome = Outcome::Failed;
            last.error = Some(e.clone());
        }
        let now = self.clock.now();
        last.finish(now, (now - last.started_at).to_std().unwrap_or_default());
        self.record_health(entity, before.health, &last).await;
        if status_due(wrote, before.run, &last, self.settings.status_interval)
            && let Err(e) = self
                .stores
                .reports
                .put_last(entity, &last, wrote.then(|| lease.fence()))
                .await
        {
            if e.lease_lost {
                lease.lose();
            }
            tracing::warn!(error = %e, "last-run status not stored");
        }
    }

    /// The connection's health, when this run changed it.
    async fn record_health(&self, entity: &EntityId, stored: Option<&Health>, last: &RunReport) {
        let Some(health) = crate::run::health_changed(stored, last) else {
            return;
        };
        match self.connections.set_health(entity, &health).await {
            Ok(_) if health.state == health::HealthState::NeedsAction => tracing::error!(
                state = %health.state,
                action = ?health.action,
                instruction = health.instruction().unwrap_or_default(),
                "the connection needs action"
            ),
            Ok(_) => tracing::info!(state = %health.state, "the connection's health changed"),
            // The next run tries again: it reads the old health.
            Err(e) => tracing::warn!(error = %e, "connection health not stored"),
        }
    }

    /// A reconcile's account: what it found, and, once every provider was walked to its
    /// end, that it was done (until then the next run reconciles again).
    fn reconciled(&self, report: &mut RunReport) {
        let found = report.providers.iter().map(|p| p.found_missing).sum::<u64>();
        report.reconcile_found_missing = Some(found);
        if found > 0 {
            tracing::warn!(
                found,
                "reconcile: messages the incremental walk had missed, delivered now"
            );
        }
        let complete = report
            .providers
            .iter()
            .all(|p| p.state != ProviderStatus::Read || p.walk_complete);
        if complete && !report.dry_run {
            report.last_reconcile_at = Some(self.clock.now());
        }
    }

    /// Opens the entity's session, discovers its providers and walks each active one.
    async fn read_providers(
        &self,
        start: Start<'_>,
        request: &FetchRequest,
        deadline: Option<Instant>,
        report: &mut RunReport,
    ) -> Result<(), RunError> {
        let (session, discovery) = self.open_session(&start.entity, &start.connection, report).await?;
        let lease = start.lease;
        let (events, look_for_pending, reconcile) = (start.events, start.look_for_pending, start.reconcile);
        let run = Run {
            fetcher: self,
            entity: start.entity,
            connection: start.connection,
            cursors: start.cursors,
            lease,
            session,
            request,
            deadline,
            events,
            reconcile,
        };
        let now = self.clock.now();
        let wanted = |p: &&ebox::model::MessageProvider| {
            request
                .providers
                .as_ref()
                .is_none_or(|only| only.contains(&p.message_provider_id))
        };
        let listed: Vec<&str> = discovery
            .providers
            .iter()
            .map(|p| p.message_provider_id.as_str())
            .collect();
        for provider in discovery.providers.iter().filter(wanted) {
            match provider.state(now) {
                ProviderState::Active => report.providers.push(run.identified(provider, &listed).await),
                ProviderState::InMaintenance { until } => report.providers.push(ProviderReport {
                    provider_id: provider.message_provider_id.clone(),
                    state: ProviderStatus::Maintenance,
                    error: Some(format!("planned maintenance until {}", until.to_rfc3339())),
                    ..ProviderReport::default()
                }),
                ProviderState::NotYetActive | ProviderState::Deactivated => {}
            }
            match lease.state() {
                Some(LeaseState::Held(_)) => break,
                Some(LeaseState::Failed(e)) => return Err(e.clone()),
                _ if lease.is_lost() => break,
                _ => {}
            }
        }
        if look_for_pending && !lease.is_lost() && !matches!(lease.state(), Some(LeaseState::Held(_))) {
            self.publish_pending(&run.entity, lease, events).await;
        }
        if reconcile {
            self.reconciled(report);
        }
        Ok(())
    }
}
