//! One provider's walk: stream the list, sort it against the ledger, deliver what is new,
//! tally, then move the cursor. "stream -> tally -> next cursor -> write".

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use ebox::model::{Listed, MessageProvider};
use ebox::{EboxError, Visibility};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::time::Instant;

use super::deliver::{Delivered, Deliverer};
use super::lease::{LazyLease, LeaseState};
use super::outcome::{Delivery, Done, Handled, Next, Seen};
use super::tally::Tally;
use super::{Clock, FetchSettings, ProviderReport, ProviderStatus, cursor};
use crate::EntityId;
use crate::ports::*;

/// What this run's walks are.
pub(super) struct Plan {
    pub dry_run: bool,
    /// A backfill: walk from this day, not from the cursor.
    pub since: Option<chrono::NaiveDate>,
    /// List everything, not only from the cursor, and count what the cursor's walk could
    /// no longer have seen.
    pub reconcile: bool,
    /// No new message is started past this (less the settings' margin).
    pub deadline: Option<Instant>,
}

/// The step that walks one provider: its list, the ledger's answer to each page, the
/// cursors (as read at the start, and the store they advance in), and the deliverer.
pub(super) struct Walker<'a> {
    pub entity: &'a EntityId,
    pub mailbox: &'a dyn Mailbox,
    pub ledger: &'a dyn Ledger,
    pub cursor_store: &'a dyn CursorStore,
    pub cursors: &'a BTreeMap<String, Cursor>,
    pub deliverer: &'a Deliverer<'a>,
    pub lease: &'a LazyLease<'a>,
    pub clock: &'a dyn Clock,
    pub settings: &'a FetchSettings,
    pub plan: Plan,
}

impl Walker<'_> {
    pub(super) fn out_of_time(&self) -> bool {
        self.plan
            .deadline
            .is_some_and(|d| d.saturating_duration_since(Instant::now()) < self.settings.time_margin)
    }

    /// Walks `provider` (under the id its registry is stored under), as discovery listed
    /// it (`listed`).
    pub(super) async fn provider(&self, provider: &MessageProvider, listed: &MessageProvider) -> ProviderReport {
        let provider_id = &provider.message_provider_id;
        let before = self.cursors.get(provider_id);
        let position = before.map(|c| c.position);
        let report = ProviderReport {
            provider_id: provider_id.clone(),
            state: ProviderStatus::Read,
            cursor_before: position,
            cursor_after: position,
            ..ProviderReport::default()
        };
        let mut tally = Tally::new(report, before, self.clock.now(), self.settings.unreadable_hold);
        let incremental = self.received_after(before);
        let listed_after = if self.plan.reconcile {
            tally.out_of_sight_from = incremental;
            None
        } else {
            incremental
        };
        // Hidden messages may be left out of the default list: a walk that may meet mail
        // for the first time (no cursor yet, a backfill, a reconcile) asks for them too.
        let hidden_too = self.plan.reconcile || before.is_none() || self.plan.since.is_some();
        let mut done = std::pin::pin!(self.deliveries(provider, before, listed_after, hidden_too));
        while let Some(item) = done.next().await {
            tally.add(item);
        }
        tally.report.walk_complete = tally.complete;
        if tally.complete && !self.plan.dry_run {
            let target = cursor::target(&tally, position);
            let next = cursor::next(before, target, tally.delivered, tally.unreadable, self.settings.overlap);
            let next = cursor::known_as(next, provider_id, listed);
            // Nothing new for the cursor: no write.
            if Some(&next) != before {
                self.write_cursor(provider_id, &next, &mut tally.report).await;
            }
        }
        tally.report
    }

    /// The `receivedAfter` of the walk from the cursor (or from the requested date).
    fn received_after(&self, before: Option<&Cursor>) -> Option<chrono::NaiveDate> {
        // e-Box filters on dates and "after" excludes the day itself: reach back so that
        // the cursor's own day, and the one before, are walked again.
        match self.plan.since {
            Some(since) => since.pred_opt(),
            // A cursor held at the start (see `cursor::target`) means the whole list: no
            // filter, rather than a date from 1969 a registry may refuse.
            None => before
                .filter(|c| c.position > DateTime::UNIX_EPOCH)
                .map(|c| (c.position - self.settings.overlap).date_naive()),
        }
    }

    /// One pipeline from the listing to the deliveries: pages are listed and checked
    /// against the ledger while earlier messages are still being delivered, and the
    /// deliveries never drain between pages.
    fn deliveries<'s>(
        &'s self,
        provider: &'s MessageProvider,
        before: Option<&'s Cursor>,
        received_after: Option<chrono::NaiveDate>,
        hidden_too: bool,
    ) -> impl Stream<Item = Done> + 's {
        let recent = before.map(|c| &c.recent);
        let handled = self
            .listing(provider, received_after, hidden_too)
            .try_chunks(ebox::PAGE_SIZE)
            .then(move |page| async move { self.check_page(provider, recent, page).await })
            .flat_map(futures::stream::iter)
            // Nothing after a stop: the listing or the ledger failed.
            .scan(false, |stopped, seen| {
                let item = (!*stopped).then(|| {
                    *stopped = matches!(seen, Seen::Stop(..));
                    seen
                });
                std::future::ready(item)
            })
            // The deliveries that start next have their retrieval facts kept in one write,
            // a round of deliveries at most ahead of them.
            .ready_chunks(self.settings.concurrency.max(1))
            .then(move |seen| self.start(provider, seen))
            .flat_map(futures::stream::iter)
            .map(move |next| self.handle(provider, next))
            .buffer_unordered(self.settings.concurrency.max(1));
        self.recorded(provider, handled)
    }

    /// The provider's list as the registry lists it by default, then (when asked) its
    /// hidden messages; an item both show is yielded once.
    fn listing(
        &self,
        provider: &MessageProvider,
        received_after: Option<chrono::NaiveDate>,
        hidden_too: bool,
    ) -> BoxStream<'static, Result<Listed, EboxError>> {
        let listed = self.mailbox.messages(provider, received_after, Visibility::AsListed);
        if !hidden_too {
            return listed;
        }
        // A registry that refuses the filter itself (400) lists everything by default, or
        // has nothing hidden to show: its walk must not stay incomplete for ever.
        let provider_id = provider.message_provider_id.clone();
        let hidden = self
            .mailbox
            .messages(provider, received_after, Visibility::Hidden)
            .take_while(move |item| {
                let refused = matches!(item, Err(EboxError::Refused { status: 400, .. }));
                if refused {
                    tracing::warn!(provider = %provider_id, "the registry refuses the visible filter; its default list is all there is");
                }
                std::future::ready(!refused)
            });
        let mut once = HashSet::new();
        listed
            .chain(hidden)
            .try_filter(move |item| {
                let identity = match item {
                    Listed::Message(m) => format!("id:{}", m.message.message_id),
                    Listed::Unreadable(u) => format!("raw:{}", u.stored_bytes().1),
                };
                std::future::ready(once.insert(identity))
            })
            .boxed()
    }

    async fn handle(&self, provider: &MessageProvider, next: Next) -> Handled {
        match next {
            Next::Done(done) => Handled::Done(done),
            Next::Unreadable(item) => {
                // Kept by an earlier run, these very bytes: nothing to write.
                let known = |sha: &str| {
                    self.cursors
                        .get(&provider.message_provider_id)
                        .is_some_and(|c| c.unreadable.contains_key(sha))
                };
                let write = |sha: &str| !self.plan.dry_run && !known(sha);
                let kept = self.deliverer.keep_unreadable(provider, &item, write).await;
                Handled::Done(Done::Unreadable(item, kept))
            }
            Next::Start(m, noted) => match self.deliverer.deliver(provider, &m, noted).await {
                Delivered::Stored(stored) => Handled::Stored(m, stored),
                Delivered::Failed(failure) => Handled::Done(Done::Delivered(m, Delivery::Failed(failure))),
            },
        }
    }

    async fn write_cursor(&self, provider_id: &str, next: &Cursor, report: &mut ProviderReport) {
        match self.lease.take().await {
            LeaseState::Acquired if !self.lease.holds() => report.walk_complete = false,
            LeaseState::Acquired => match self
                .cursor_store
                .advance(self.entity, provider_id, next, self.lease.fence())
                .await
            {
                Ok(CursorOutcome::Advanced) => report.cursor_after = Some(next.position),
                Ok(CursorOutcome::WouldMoveBackwards { current }) => report.cursor_after = Some(current),
                Err(e) => {
                    if e.lease_lost {
                        self.lease.lose();
                        report.walk_complete = false;
                    }
                    report.error = Some(format!("cursor: {e}"));
                }
            },
            LeaseState::Held(_) => report.walk_complete = false,
            LeaseState::Failed(e) => report.error = Some(format!("cursor: {}", e.message)),
        }
    }

    /// Sorts one listed page into what the ledger knows, what is new and what is not a
    /// readable message; a listing that failed after this page, or a ledger that cannot
    /// answer, ends the walk.
    async fn check_page(
        &self,
        provider: &MessageProvider,
        recent: Option<&BTreeMap<String, DateTime<Utc>>>,
        page: Result<Vec<Listed>, futures::stream::TryChunksError<Listed, EboxError>>,
    ) -> Vec<Seen> {
        let (page, listing_error) = match page {
            Ok(page) => (page, None),
            Err(e) => {
                let action = crate::health::Action::for_ebox(&e.1, false);
                (e.0, Some(Seen::Stop(format!("listing: {}", e.1), action)))
            }
        };
        let remembered = |id: &String| recent.is_some_and(|r| r.contains_key(id));
        // The cursor remembers what the previous walks delivered; only the rest is asked
        // of the ledger.
        let ids: Vec<String> = page
            .iter()
            .filter_map(|item| match item {
                Listed::Message(m) => Some(&m.message.message_id),
                Listed::Unreadable(_) => None,
            })
            .filter(|id| !remembered(id))
            .cloned()
            .collect();
        let delivered = if ids.is_empty() {
            Default::default()
        } else {
            match self
                .ledger
                .delivered_among(self.entity, &provider.message_provider_id, &ids)
                .await
            {
                Ok(d) => d,
                // Without the ledger nothing can be known to be new.
                Err(e) => return vec![Seen::Stop(format!("ledger: {e}"), None)],
            }
        };
        let mut seen: Vec<Seen> = page
            .into_iter()
            .map(|item| match item {
                Listed::Unreadable(u) => Seen::Unreadable(Box::new(u)),
                Listed::Message(m)
                    if remembered(&m.message.message_id) || delivered.contains(&m.message.message_id) =>
                {
                    Seen::Known(m.message.message_id.clone(), m.message.receipt_date)
                }
                Listed::Message(m) => Seen::Fresh(m),
            })
            .collect();
        seen.extend(listing_error);
        seen
    }
}
