//! One provider's walk: stream the list, sort it against the ledger, deliver what is new,
//! tally, then move the cursor. "stream -> tally -> next cursor -> write".

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use ebox::model::{Listed, ListedMessage, MessageProvider, UnreadableItem};
use ebox::{EboxError, Visibility};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::time::Instant;

use super::lease::LeaseState;
use super::tally::{Done, Tally};
use super::{ProviderReport, ProviderStatus, cursor};
use crate::ports::*;

use super::open_run::Run;

/// A listed item, as the ledger sees it.
enum Seen {
    Known(String, Option<DateTime<Utc>>),
    Fresh(Box<ListedMessage>),
    Unreadable(Box<UnreadableItem>),
    Stop(String, Option<crate::health::Action>),
}

impl Run<'_> {
    fn out_of_time(&self) -> bool {
        self.deadline
            .is_some_and(|d| d.saturating_duration_since(Instant::now()) < self.fetcher.settings.time_margin)
    }

    /// Walks `provider` (under the id its registry is stored under), as discovery listed
    /// it (`listed`).
    pub(super) async fn provider(&self, provider: &MessageProvider, listed: &MessageProvider) -> ProviderReport {
        let f = self.fetcher;
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
        let mut tally = Tally::new(report, before, f.clock.now(), f.settings.unreadable_hold);
        let incremental = self.received_after(before);
        let listed_after = if self.reconcile {
            tally.out_of_sight_from = incremental;
            None
        } else {
            incremental
        };
        // Hidden messages may be left out of the default list: a walk that may meet mail
        // for the first time (no cursor yet, a backfill, a reconcile) asks for them too.
        let hidden_too = self.reconcile || before.is_none() || self.request.since.is_some();
        let mut done = std::pin::pin!(self.deliveries(provider, before, listed_after, hidden_too));
        while let Some(item) = done.next().await {
            tally.add(item);
        }
        tally.report.walk_complete = tally.complete;
        if tally.complete && !self.request.dry_run {
            let target = cursor::target(&tally, position);
            // A first walk that found nothing still leaves a cursor (at the start): the
            // registry is known from then on, so later walks neither list its hidden mail
            // nor look for it under another id, each run.
            let next = cursor::next(before, target, tally.delivered, tally.unreadable, f.settings.overlap)
                .or_else(|| before.is_none().then(Cursor::default))
                .map(|next| cursor::known_as(next, provider_id, listed));
            // Nothing new for the cursor: no write.
            if let Some(next) = next.filter(|n| Some(n) != before) {
                self.write_cursor(provider_id, &next, &mut tally.report).await;
            }
        }
        tally.report
    }

    /// One pipeline from the listing to the deliveries: pages are listed and checked
    /// against the ledger while earlier messages are still being delivered, and the
    /// deliveries never drain between pages.
    /// The `receivedAfter` of the walk from the cursor (or from the requested date).
    fn received_after(&self, before: Option<&Cursor>) -> Option<chrono::NaiveDate> {
        // e-Box filters on dates and "after" excludes the day itself: reach back so that
        // the cursor's own day, and the one before, are walked again.
        match self.request.since {
            Some(since) => since.pred_opt(),
            // A cursor held at the start (see `cursor::target`) means the whole list: no
            // filter, rather than a date from 1969 a registry may refuse.
            None => before
                .filter(|c| c.position > DateTime::UNIX_EPOCH)
                .map(|c| (c.position - self.fetcher.settings.overlap).date_naive()),
        }
    }

    fn deliveries<'s>(
        &'s self,
        provider: &'s MessageProvider,
        before: Option<&'s Cursor>,
        received_after: Option<chrono::NaiveDate>,
        hidden_too: bool,
    ) -> impl Stream<Item = Done> + 's {
        let f = self.fetcher;
        let recent = before.map(|c| &c.recent);
        self.listing(provider, received_after, hidden_too)
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
            .map(move |seen| self.handle(provider, seen))
            .buffer_unordered(f.settings.concurrency.max(1))
    }

    /// The provider's list as the registry lists it by default, then (when asked) its
    /// hidden messages; an item both show is yielded once.
    fn listing(
        &self,
        provider: &MessageProvider,
        received_after: Option<chrono::NaiveDate>,
        hidden_too: bool,
    ) -> BoxStream<'static, Result<Listed, EboxError>> {
        let listed = self.session.messages(provider, received_after, Visibility::AsListed);
        if !hidden_too {
            return listed;
        }
        // A registry that refuses the filter itself (400) lists everything by default, or
        // has nothing hidden to show: its walk must not stay incomplete for ever.
        let provider_id = provider.message_provider_id.clone();
        let hidden = self
            .session
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
                    Listed::Unreadable(u) => format!("raw:{}", u.raw),
                };
                std::future::ready(once.insert(identity))
            })
            .boxed()
    }

    async fn handle(&self, provider: &MessageProvider, seen: Seen) -> Done {
        match seen {
            Seen::Known(id, receipt) => Done::Known(id, receipt),
            Seen::Stop(reason, action) => Done::Stopped(reason, action),
            Seen::Unreadable(item) => {
                let kept = self.keep_unreadable(provider, &item).await;
                Done::Unreadable(item, kept)
            }
            Seen::Fresh(m) if self.request.dry_run => Done::Planned(self.planned_keys(provider, &m)),
            // No new message is started when time is short.
            Seen::Fresh(_) if self.out_of_time() => Done::NotStarted,
            // A run that no longer holds its lease starts nothing more.
            Seen::Fresh(m) => match self.lease.take_and_hold().await {
                true => {
                    let delivery = self.deliver(provider, &m).await;
                    Done::Delivered(m, delivery)
                }
                false => Done::NoLease,
            },
        }
    }

    async fn write_cursor(&self, provider_id: &str, next: &Cursor, report: &mut ProviderReport) {
        match self.lease.take().await {
            LeaseState::Acquired if !self.lease.holds() => report.walk_complete = false,
            LeaseState::Acquired => match self
                .fetcher
                .stores
                .cursors
                .advance(&self.entity, provider_id, next, self.lease.fence())
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
                .fetcher
                .stores
                .ledger
                .delivered_among(&self.entity, &provider.message_provider_id, &ids)
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
