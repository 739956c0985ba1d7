//! A provider's message list, page by page.
//!
//! The walk follows `totalItems`, never "a short page is the last one": a registry may
//! serve fewer items than asked for. When it does, the walk asks for pages of the size
//! it was served from then on, at the page where the items it has not seen start, so it
//! reaches every item whichever way the registry counts its pages. An empty list
//! answered with 404 ("No messages found", as the 2.1 description documents) is an empty
//! list. Guards: a page that repeats the previous one, or more pages than the list can
//! have, end the walk with an error; a list that shifts while it is paged is walked again.

use std::collections::HashSet;

use chrono::NaiveDate;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::Url;

use super::{PAGE_SIZE, Session, endpoint};
use crate::error::EboxError;
use crate::model::{Listed, MessageProvider, Page};

const MAX_PASSES: usize = 3;

/// Which messages a walk asks for. The list's `visible` filter has no documented default,
/// and a person may hide a message in the web UI before a consumer fetched it: a list
/// without the filter may leave hidden messages out, so they are walked on their own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Visibility {
    /// No filter: whatever the registry lists by default.
    #[default]
    AsListed,
    /// `visible=false`. An item that does not say whether it is visible is taken as hidden.
    Hidden,
}

impl Session {
    /// Every item of one provider's list, newest first, from `received_after` on (a date,
    /// as e-Box filters on dates). An item seen twice in one walk is yielded once; an item
    /// that is not a readable message is yielded as [`Listed::Unreadable`], and the walk
    /// goes on.
    pub fn messages(
        &self,
        provider: &MessageProvider,
        received_after: Option<NaiveDate>,
        visibility: Visibility,
    ) -> BoxStream<'static, Result<Listed, EboxError>> {
        let walk = Walk {
            visibility,
            session: self.clone(),
            provider_id: provider.message_provider_id.clone(),
            url: endpoint(&provider.message_provider_url, &["ebox", "messages"]),
            received_after,
            page_size: PAGE_SIZE,
            offset: 0,
            pages: 0,
            pass: 1,
            first_total: None,
            shifted: false,
            previous: Vec::new(),
            seen: HashSet::new(),
            done: false,
            pending: None,
        };
        stream::try_unfold(walk, |mut walk| async move {
            let batch = walk.next_page().await?;
            Ok::<_, EboxError>(batch.map(|b| (b, walk)))
        })
        .map_ok(|batch: Vec<Listed>| stream::iter(batch.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }
}

impl Visibility {
    /// What a hidden walk knows of an item that does not say.
    pub fn mark(self, mut item: Listed) -> Listed {
        if let (Visibility::Hidden, Listed::Message(m)) = (self, &mut item) {
            m.message.visible.get_or_insert(false);
        }
        item
    }
}

struct Walk {
    session: Session,
    provider_id: String,
    url: Result<Url, EboxError>,
    received_after: Option<NaiveDate>,
    visibility: Visibility,
    /// Items asked for per page; lowered to what the registry serves.
    page_size: usize,
    /// Items of this pass consumed so far, in list order.
    offset: usize,
    /// Pages asked for in this pass.
    pages: usize,
    pass: usize,
    first_total: Option<u64>,
    shifted: bool,
    /// What identifies the items of the previous page.
    previous: Vec<String>,
    seen: HashSet<String>,
    done: bool,
    /// An error to end the walk with, once the items before it are yielded.
    pending: Option<EboxError>,
}

/// What identifies an item within a walk: its id, or for an item without one its JSON.
fn identity(item: &Listed) -> String {
    match item {
        Listed::Message(m) => format!("id:{}", m.message.message_id),
        Listed::Unreadable(u) => format!("raw:{}", u.stored_bytes().1),
    }
}

/// The page size to ask for after a registry served `served` items where more were
/// asked, with `offset` items seen: the largest that divides `offset` (so the next page
/// starts exactly at the first unseen item) and is no larger than what it serves.
pub(super) fn served_page_size(offset: usize, served: usize) -> usize {
    (1..=served.min(offset).max(1))
        .rev()
        .find(|size| offset.is_multiple_of(*size))
        .unwrap_or(1)
}

impl Walk {
    fn error(&self, detail: String) -> EboxError {
        EboxError::Walk {
            provider: self.provider_id.clone(),
            detail,
        }
    }

    async fn fetch(&self) -> Result<Page<Box<serde_json::value::RawValue>>, EboxError> {
        let url = self.url.as_ref().map_err(|e| self.error(e.to_string()))?;
        // `page_size` divides `offset`, so this page starts at the first unseen item.
        let page = self.offset / self.page_size + 1;
        let mut query = vec![("page", page.to_string()), ("pageSize", self.page_size.to_string())];
        if let Some(d) = self.received_after {
            query.push(("receivedAfter", d.to_string()));
        }
        if self.visibility == Visibility::Hidden {
            query.push(("visible", "false".to_owned()));
        }
        let what = format!("messages of {} page {page}", self.provider_id);
        match self.session.get_json(&what, url, &query).await {
            // "No messages found" (the 2.1 description): an empty list on the first page;
            // past it, only that nothing was served there.
            Err(EboxError::NotFound { .. }) => Ok(Page {
                items: Vec::new(),
                total_items: (self.offset == 0).then_some(0),
            }),
            other => other,
        }
    }

    fn restart(&mut self) {
        tracing::info!(provider = %self.provider_id, pass = self.pass, "the list shifted while paging; walking it again");
        self.pass += 1;
        self.offset = 0;
        self.pages = 0;
        self.first_total = None;
        self.shifted = false;
        self.previous.clear();
    }

    /// At the end of a pass: walk again while the list shifted or gave less than it
    /// counts; after the last pass, such a list is not complete, so the cursor stays and
    /// the next walk looks again.
    fn ended(&mut self, known_total: usize) {
        let short = self.offset < known_total;
        if (self.shifted || short) && self.pass < MAX_PASSES {
            self.restart();
            return;
        }
        self.done = true;
        if short {
            self.pending = Some(self.error(format!(
                "the list ended after {} of the {known_total} items it counts",
                self.offset
            )));
        } else if self.shifted {
            self.pending = Some(self.error(format!("the list still shifted after {MAX_PASSES} walks")));
        }
    }

    /// The new items of the next page; None at the end of the walk.
    async fn next_page(&mut self) -> Result<Option<Vec<Listed>>, EboxError> {
        loop {
            if let Some(e) = self.pending.take() {
                return Err(e);
            }
            if self.done {
                return Ok(None);
            }
            let page = self.fetch().await?;
            self.pages += 1;
            let total = page.total_items;
            match (self.first_total, total) {
                (None, _) => self.first_total = total,
                (Some(first), Some(t)) if first != t => self.shifted = true,
                _ => {}
            }
            let known_total = self.first_total.unwrap_or(0).max(total.unwrap_or(0)) as usize;
            // Without any count, the guard against an endless list is the repeated page.
            let counted = self.first_total.is_some() || total.is_some();
            if counted && self.pages > known_total / self.page_size.max(1) + 10 {
                return Err(self.error(format!("the walk did not end after {} pages", self.pages)));
            }
            let items: Vec<Listed> = page
                .items
                .into_iter()
                .map(|raw| self.visibility.mark(Listed::read(raw)))
                .collect();
            let ids: Vec<String> = items.iter().map(identity).collect();
            if !ids.is_empty() && ids == self.previous {
                return Err(self.error(format!(
                    "page {} repeats the page before it",
                    self.offset / self.page_size + 1
                )));
            }
            let served = items.len();
            self.offset += served;
            // Without a count, only an empty page ends the list: a short one may be all
            // the registry serves at once.
            let end = served == 0 || total.is_some_and(|t| self.offset >= t as usize);
            if !end && served < self.page_size {
                // Served fewer than asked: ask for what it serves from now on.
                self.page_size = served_page_size(self.offset, served);
            }
            self.previous = ids;
            let fresh: Vec<Listed> = items
                .into_iter()
                .filter(|item| self.seen.insert(identity(item)))
                .collect();
            if end {
                self.ended(known_total);
            }
            if !fresh.is_empty() {
                return Ok(Some(fresh));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::served_page_size;

    #[test]
    fn the_next_page_size_starts_at_the_first_unseen_item() {
        assert_eq!(served_page_size(50, 50), 50);
        assert_eq!(served_page_size(99, 49), 33, "the largest divisor of 99 up to 49");
        assert_eq!(served_page_size(30, 30), 30);
        assert_eq!(served_page_size(7, 3), 1);
        for (offset, served) in [(50, 50), (99, 49), (120, 40), (13, 5)] {
            let size = served_page_size(offset, served);
            assert!(size <= served && offset % size == 0, "{offset} {served} -> {size}");
        }
    }
}
