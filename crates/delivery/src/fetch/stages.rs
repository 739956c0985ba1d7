//! The two stages of a walk that gather messages: the retrieval notes of the deliveries
//! that start next, kept in one write, and the events and ledger rows of stored
//! messages, written ten at a time while the next ones are delivered.

use ebox::model::MessageProvider;

use futures::{Stream, StreamExt};

use super::outcome::{Done, Handled, Next, Seen};
use super::walk::Walker;

/// The most stored messages whose events and ledger rows are written together: one
/// `PutEvents` takes ten events.
const RECORD_BATCH: usize = crate::ports::PUBLISH_BATCH;

/// How long a stored message waits for others to be recorded with, at most. Its delivery
/// has freed its place already; a run that dies meanwhile leaves it complete without a
/// row, which the next run records.
const RECORD_LINGER: std::time::Duration = std::time::Duration::from_millis(200);

impl Walker<'_> {
    /// Decides what becomes of each item in `seen`: which new messages start (not in a
    /// dry run, not when time is short, nor without the lease), keeping the retrieval facts
    /// of those listed as unread.
    pub(super) async fn start(&self, provider: &MessageProvider, seen: Vec<Seen>) -> Vec<Next> {
        let mut next = Vec::with_capacity(seen.len());
        for item in seen {
            next.push(match item {
                Seen::Known(id, receipt) => Next::Done(Done::Known(id, receipt)),
                Seen::Stop(reason, action) => Next::Done(Done::Stopped(reason, action)),
                Seen::Unreadable(item) => Next::Unreadable(item),
                Seen::Fresh(m) if self.plan.dry_run => {
                    Next::Done(Done::Planned(self.deliverer.planned_keys(provider, &m)))
                }
                Seen::Fresh(_) if self.out_of_time() => Next::Done(Done::NotStarted),
                // A run that no longer holds its lease starts nothing more.
                Seen::Fresh(m) => match self.lease.take_and_hold().await {
                    true => Next::Start(m, None),
                    false => Next::Done(Done::NoLease),
                },
            });
        }
        let starting: Vec<&ebox::model::ListedMessage> = next
            .iter()
            .filter_map(|n| match n {
                Next::Start(m, _) => Some(&**m),
                _ => None,
            })
            .collect();
        if starting.is_empty() {
            return next;
        }
        let mut noted = self.deliverer.note_retrievals(provider, &starting).await.into_iter();
        for n in &mut next {
            if let Next::Start(_, facts) = n {
                *facts = noted.next().flatten();
            }
        }
        next
    }

    /// The walk's items once the stored ones among `handled` are recorded: ten at a time,
    /// while the next ones are delivered.
    pub(super) fn recorded<'s>(
        &'s self,
        provider: &'s MessageProvider,
        handled: impl Stream<Item = Handled> + 's,
    ) -> impl Stream<Item = Done> + 's {
        tokio_stream::StreamExt::chunks_timeout(handled, RECORD_BATCH, RECORD_LINGER)
            .map(move |chunk| self.record(provider, chunk))
            .buffered(2)
            .flat_map(futures::stream::iter)
    }

    /// Records the stored messages among `chunk`; what became of each item.
    async fn record(&self, provider: &MessageProvider, chunk: Vec<Handled>) -> Vec<Done> {
        let mut done = Vec::with_capacity(chunk.len());
        let mut stored = Vec::new();
        for handled in chunk {
            match handled {
                Handled::Done(d) => done.push(d),
                Handled::Stored(m, s) => stored.push((m, s)),
            }
        }
        if !stored.is_empty() {
            let deliveries = self.deliverer.record_all(provider, &stored).await;
            done.extend(
                stored
                    .into_iter()
                    .zip(deliveries)
                    .map(|((m, _), d)| Done::Delivered(m, d)),
            );
        }
        done
    }
}
