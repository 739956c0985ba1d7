//! The health a finished run shows (see [`crate::health`]): pure rules.

use crate::health::{Health, HealthState};

use super::{Outcome, RunReport};

/// The health a finished run shows; `None` for a run that says nothing of it (another
/// run held the entity, or a dry run).
pub fn of_run(report: &RunReport) -> Option<Health> {
    if report.dry_run {
        return None;
    }
    let (state, action) = match (report.outcome, report.needs_action) {
        (Outcome::AlreadyRunning, _) => return None,
        (Outcome::Ok, _) => (HealthState::Ok, None),
        (_, Some(action)) => (HealthState::NeedsAction, Some(action)),
        _ => (HealthState::Degraded, None),
    };
    let refused_listing = || {
        report
            .providers
            .iter()
            .find(|p| p.needs_action.is_some())
            .and_then(|p| p.error.as_ref().map(|e| format!("{}: {e}", p.provider_id)))
    };
    let reason = report.error.as_ref().map(|e| format!("{}: {}", e.step, e.message));
    let reason = reason.or_else(refused_listing).or_else(|| {
        (state == HealthState::Degraded).then(|| {
            format!(
                "{} message(s) not delivered, or a provider not read to the end",
                report.failed
            )
        })
    });
    Some(Health {
        state,
        since: report.finished_at,
        action,
        reason,
    })
}

/// The health to store after a run, when it differs from the stored one; a state held
/// keeps its `since`.
pub fn changed(stored: Option<&Health>, report: &RunReport) -> Option<Health> {
    let now = of_run(report)?;
    match stored {
        Some(s) if s.same(&now) => None,
        _ => Some(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{Action, HealthState};
    use crate::run::{Outcome, RunError, RunReport, Step};

    fn run(outcome: Outcome, error: Option<(Option<Action>, bool)>) -> RunReport {
        let at = "2026-03-02T08:00:00Z".parse().unwrap();
        let mut r = RunReport::new("r".into(), "0403170701".into(), false, at);
        r.outcome = outcome;
        if let Some((action, retryable)) = error {
            r.needs_action = action;
            r.error = Some(RunError {
                step: Step::Token,
                message: "token refused (401, invalid_client): unknown client".into(),
                retryable,
            });
        }
        r
    }

    fn error(action: Option<Action>, retryable: bool) -> (Option<Action>, bool) {
        (action, retryable)
    }

    #[test]
    fn refused_credentials_need_action_and_say_which() {
        let h = of_run(&run(
            Outcome::Failed,
            Some(error(Some(Action::WebserviceAccount), false)),
        ))
        .unwrap();
        assert_eq!(h.state, HealthState::NeedsAction);
        assert!(h.instruction().unwrap().contains("ChaMan"));
        assert!(h.reason.unwrap().starts_with("token: "));
        assert_eq!(
            of_run(&run(Outcome::Failed, Some(error(None, true)))).unwrap().state,
            HealthState::Degraded
        );
        assert_eq!(
            of_run(&run(Outcome::Partial, None)).unwrap().state,
            HealthState::Degraded
        );
        assert_eq!(of_run(&run(Outcome::Ok, None)).unwrap().state, HealthState::Ok);
        assert_eq!(of_run(&run(Outcome::AlreadyRunning, None)), None);
    }

    #[test]
    fn only_a_change_is_stored() {
        let ok = of_run(&run(Outcome::Ok, None)).unwrap();
        assert_eq!(changed(Some(&ok), &run(Outcome::Ok, None)), None);
        assert_eq!(changed(None, &run(Outcome::Ok, None)), Some(ok.clone()));
        let refused = run(Outcome::Failed, Some(error(Some(Action::WebserviceAccount), false)));
        let needs = changed(Some(&ok), &refused).unwrap();
        assert_eq!(needs.state, HealthState::NeedsAction);
        assert_eq!(changed(Some(&needs), &refused), None, "the same refusal again");
        let expired = run(Outcome::Failed, Some(error(Some(Action::CertificateUpload), false)));
        assert_eq!(
            changed(Some(&needs), &expired).unwrap().action,
            Some(Action::CertificateUpload),
            "another step to redo"
        );
    }
}
