//! An entity's onboarding trajectory, in the words of the onboarding guide, each step with
//! its date: requested (the Facilipunt reference), certificate handed over (which one),
//! waiting for the ClientID, ClientID received and tested, connected, first message
//! delivered. Pure rules; the connection carries the record until it delivers, and fetch
//! and fanout leave a connection alone until [`Onboarding::connected`].

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::health::Action;

/// The steps, in the order an onboarding walks them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, strum::Display, strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Step {
    /// The entity asked for the connection (its Facilipunt request).
    Requested,
    /// DigiPost handed the entity its certificate, to upload with the REST account.
    CertificateHandedOver,
    /// The entity activates its e-Box, registers as Document Consumer and makes the
    /// "DocConsumer e-Box Enterprise" REST account in ChaMan; DigiPost waits for the ClientID.
    WaitingForClientId,
    /// The ClientID is here; the last test of it did not get through (see the refusal).
    ClientIdReceived,
    /// A test got a token and read the e-Box: fetch delivers from now on.
    Connected,
    /// The first message is in the verdeelbak: the onboarding is over.
    FirstMessageDelivered,
}

/// Why the last test of the ClientID did not get through, and the step to redo.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// The step to redo; none when e-Box was unavailable (test again later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// What the test said (never a secret: test errors name secrets by id only).
    pub reason: String,
}

/// Where one onboarding stands: the date each step was reached, and what it carries.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Onboarding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facilipunt_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<DateTime<Utc>>,
    /// Which certificate was handed over: its SHA-256 thumbprint, or the secret holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_handed_over_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for_client_id_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_received_at: Option<DateTime<Utc>>,
    /// When the ClientID was last tested, and why that test failed (none when it worked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tested_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_message_delivered_at: Option<DateTime<Utc>>,
}

/// A step asked for that the onboarding is already past.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the onboarding is at step {at}, past {asked}")]
pub struct AlreadyPast {
    pub at: Step,
    pub asked: Step,
}

impl Onboarding {
    /// An onboarding that starts with the entity's request.
    pub fn requested(facilipunt_reference: Option<String>, now: DateTime<Utc>) -> Self {
        Self {
            facilipunt_reference,
            requested_at: Some(now),
            ..Self::default()
        }
    }

    /// The furthest step reached, and since when (`None` for an empty record).
    pub fn current(&self) -> Option<(Step, DateTime<Utc>)> {
        self.dates().into_iter().rev().find_map(|(step, at)| Some((step, at?)))
    }

    pub fn step(&self) -> Option<Step> {
        self.current().map(|(step, _)| step)
    }

    /// Whether fetch may deliver: a test of the ClientID got through.
    pub fn connected(&self) -> bool {
        self.connected_at.is_some()
    }

    /// Each step with the date it was reached, in order.
    pub fn dates(&self) -> [(Step, Option<DateTime<Utc>>); 6] {
        [
            (Step::Requested, self.requested_at),
            (Step::CertificateHandedOver, self.certificate_handed_over_at),
            (Step::WaitingForClientId, self.waiting_for_client_id_at),
            (Step::ClientIdReceived, self.client_id_received_at),
            (Step::Connected, self.connected_at),
            (Step::FirstMessageDelivered, self.first_message_delivered_at),
        ]
    }

    /// Records a step the platform reports, up to the ClientID (tests record the rest).
    /// A step already reached keeps its first date; one the onboarding is past is refused.
    pub fn reach(&mut self, step: Step, now: DateTime<Utc>) -> Result<(), AlreadyPast> {
        if let Some(at) = self.step()
            && at > step
        {
            return Err(AlreadyPast { at, asked: step });
        }
        let date = match step {
            Step::Requested => &mut self.requested_at,
            Step::CertificateHandedOver => &mut self.certificate_handed_over_at,
            Step::WaitingForClientId => &mut self.waiting_for_client_id_at,
            Step::ClientIdReceived => &mut self.client_id_received_at,
            Step::Connected => &mut self.connected_at,
            Step::FirstMessageDelivered => &mut self.first_message_delivered_at,
        };
        date.get_or_insert(now);
        Ok(())
    }

    /// Records a test of the ClientID: connected when it got through, else the refusal.
    /// A connection already connected stays so (its health says how it fares now).
    pub fn tested(&mut self, refusal: Option<Refusal>, now: DateTime<Utc>) {
        self.client_id_received_at.get_or_insert(now);
        self.tested_at = Some(now);
        if self.connected() {
            return;
        }
        match refusal {
            None => {
                self.refusal = None;
                self.connected_at = Some(now);
            }
            Some(refusal) => self.refusal = Some(refusal),
        }
    }

    /// Stuck: not yet delivering, and on its current step for longer than `after`. Returns
    /// the step and how long it has been on it.
    pub fn stuck(&self, after: Duration, now: DateTime<Utc>) -> Option<(Step, Duration)> {
        let (step, since) = self.current()?;
        let waited = now - since;
        (step < Step::Connected && waited > after).then_some((step, waited))
    }

    /// Who acts next: `digipost` or `entity` (as [`Action::by`] says for a refusal).
    pub fn next_by(&self) -> &'static str {
        match self.step() {
            None | Some(Step::Requested) => "digipost",
            Some(Step::ClientIdReceived) => match self.refusal.as_ref().and_then(|r| r.action) {
                Some(action) => action.by(),
                None => "digipost",
            },
            _ => "entity",
        }
    }

    /// What the one who acts next does, in the guide's words.
    pub fn next(&self) -> &'static str {
        match self.step() {
            None | Some(Step::Requested) => {
                "DigiPost hands the entity its certificate, to upload with the REST webservice account"
            }
            Some(Step::CertificateHandedOver) | Some(Step::WaitingForClientId) => {
                "the entity activates its e-Box Enterprise, accepts the Document Consumer terms, creates the REST \
                 webservice account \"DocConsumer e-Box Enterprise\" in ChaMan with DigiPost's certificate, and \
                 sends DigiPost the ClientID"
            }
            Some(Step::ClientIdReceived) => match self.refusal.as_ref().and_then(|r| r.action) {
                Some(action) => action.instruction(),
                None => "test the ClientID again",
            },
            Some(Step::Connected) => "nothing: mail is delivered from the next run on",
            Some(Step::FirstMessageDelivered) => "nothing: the onboarding is complete",
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, d, 9, 0, 0).unwrap()
    }

    #[test]
    fn the_steps_are_walked_in_order_each_with_its_date() {
        let mut o = Onboarding::requested(Some("FP-2026-0042".into()), day(1));
        assert_eq!(o.current(), Some((Step::Requested, day(1))));
        o.reach(Step::CertificateHandedOver, day(2)).unwrap();
        o.reach(Step::WaitingForClientId, day(3)).unwrap();
        // Reported twice: the first date stays.
        o.reach(Step::WaitingForClientId, day(4)).unwrap();
        assert_eq!(o.current(), Some((Step::WaitingForClientId, day(3))));
        assert!(!o.connected());
        let refused = Refusal {
            action: Some(Action::DocumentConsumerRegistration),
            reason: "invalid_scope".into(),
        };
        o.tested(Some(refused.clone()), day(5));
        assert_eq!(o.current(), Some((Step::ClientIdReceived, day(5))));
        assert_eq!(o.refusal, Some(refused));
        assert_eq!(o.next(), Action::DocumentConsumerRegistration.instruction());
        o.tested(None, day(6));
        assert_eq!(o.current(), Some((Step::Connected, day(6))));
        assert!(o.connected() && o.refusal.is_none());
        assert_eq!(o.client_id_received_at, Some(day(5)));
        // Back to an earlier step is refused; a failing test no longer disconnects.
        assert_eq!(
            o.reach(Step::WaitingForClientId, day(7)),
            Err(AlreadyPast {
                at: Step::Connected,
                asked: Step::WaitingForClientId
            })
        );
        o.tested(
            Some(Refusal {
                action: None,
                reason: "timeout".into(),
            }),
            day(7),
        );
        assert!(o.connected() && o.refusal.is_none());
        o.reach(Step::FirstMessageDelivered, day(8)).unwrap();
        assert_eq!(o.step(), Some(Step::FirstMessageDelivered));
    }

    #[test]
    fn stuck_is_the_time_on_a_step_before_connected() {
        let mut o = Onboarding::requested(None, day(1));
        o.reach(Step::CertificateHandedOver, day(2)).unwrap();
        assert_eq!(o.stuck(Duration::days(14), day(15)), None);
        assert_eq!(
            o.stuck(Duration::days(14), day(17)),
            Some((Step::CertificateHandedOver, Duration::days(15)))
        );
        o.tested(None, day(17));
        assert_eq!(o.stuck(Duration::days(14), day(30)), None, "connected is not stuck");
    }

    #[test]
    fn steps_read_and_print_in_the_guides_words() {
        assert_eq!(Step::WaitingForClientId.to_string(), "waiting_for_client_id");
        assert_eq!("client_id_received".parse::<Step>(), Ok(Step::ClientIdReceived));
        assert_eq!(
            serde_json::to_value(Step::FirstMessageDelivered).unwrap(),
            "first_message_delivered"
        );
    }
}
