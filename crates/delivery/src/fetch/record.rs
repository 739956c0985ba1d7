//! Recording stored messages, several at a time: their events (ten a `PutEvents`), then
//! their ledger rows (one write), each row published when the bus took its event and
//! pending when not (see [`super::outbox`]).

use ebox::model::{ListedMessage, MessageProvider};

use super::Step;
use super::deliver::Deliverer;
use super::failure::Failure;
use super::outbox::Outgoing;
use super::outcome::{Delivery, Stored};
use crate::ports::*;

impl Deliverer<'_> {
    /// The events of messages whose `message.json` is stored (ten a call), then their
    /// ledger rows (one write): each row published when the bus took its event, pending
    /// when not (see [`super::outbox`]). What each delivery is, in order.
    pub(super) async fn record_all(
        &self,
        provider: &MessageProvider,
        stored: &[(Box<ListedMessage>, Stored)],
    ) -> Vec<Delivery> {
        let lease_lost = || stored.iter().map(|_| Delivery::Failed(Failure::lease_lost())).collect();
        if self.may_write().is_err() {
            return lease_lost();
        }
        let rows: Vec<Outgoing> = stored
            .iter()
            .map(|(listed, s)| Outgoing {
                provider_id: &provider.message_provider_id,
                message_id: &listed.message.message_id,
                message_key: &s.message_key,
                message_json: &s.message_json,
            })
            .collect();
        let published = self.publisher.publish_new(&rows).await;
        // To the millisecond, as the ledger keeps it: a retried write finds its own row.
        let delivered_at = chrono::SubsecRound::trunc_subsecs(self.clock.now(), 3);
        let entries: Vec<LedgerEntry> = stored
            .iter()
            .zip(&published)
            .map(|((listed, s), published)| LedgerEntry {
                provider_id: provider.message_provider_id.clone(),
                message_id: listed.message.message_id.clone(),
                delivered_at,
                message_sha256: hex(sha256_of(&s.message_json)),
                message_key: s.message_key.clone(),
                expires_at: listed.message.expiration_date,
                event_pending: !published,
            })
            .collect();
        // The rows are not fenced in the store (see [`Ledger::record`]): the lease is
        // checked here, again after the publish.
        if self.may_write().is_err() {
            return lease_lost();
        }
        let answers = self.ledger.record_many(self.entity, &entries).await;
        stored
            .iter()
            .zip(answers)
            .map(|((listed, s), answer)| match answer {
                Ok(Insert::Inserted) => {
                    if listed.message.registered_mail {
                        self.publisher.registered();
                    }
                    s.delivered()
                }
                Ok(Insert::AlreadyExists) => Delivery::AlreadyRecorded,
                Err(source) => Delivery::Failed(Failure::Store {
                    step: Step::Ledger,
                    source,
                }),
            })
            .collect()
    }
}
