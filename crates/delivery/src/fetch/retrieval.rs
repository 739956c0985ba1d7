//! The moment a message's main content was first retrieved, which is when e-Box marks it
//! read, and whether e-Box already said "read" before that (someone opened it in the web
//! UI). Registered mail's deadlines can run from its receipt, so both are on record.
//!
//! A run that died after downloading the content but before `message.json` leaves the
//! message marked read by its own download. So the facts are kept in the state table
//! before the download, and with what it stored (as metadata on every object of the
//! message folder); the next attempt reads them back when the listing says "read".

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use ebox::model::ListedMessage;

use super::failure::Failure;
use crate::EntityId;
use crate::ports::{Ledger, MessageRef, ObjectStore, RetrievalNote};
use crate::verdeelbak::keys;
pub(super) use crate::verdeelbak::message_json::Retrieval;

const RETRIEVED_AT: &str = "retrieved-at";
const READ_BEFORE: &str = "read-before-retrieval";

/// The object metadata that keeps the facts.
pub(super) fn metadata(r: &Retrieval) -> Vec<(String, String)> {
    vec![
        (
            RETRIEVED_AT.into(),
            r.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ),
        (READ_BEFORE.into(), r.read_before.to_string()),
    ]
}

fn from_metadata(metadata: &BTreeMap<String, String>) -> Option<Retrieval> {
    Some(Retrieval {
        at: metadata.get(RETRIEVED_AT)?.parse::<DateTime<Utc>>().ok()?,
        read_before: metadata.get(READ_BEFORE)?.parse().ok()?,
    })
}

/// The key the message's main content is stored under: its main attachment, else its body.
fn main_content_key(folder: &str, listed: &ListedMessage) -> String {
    match listed.message.attachments().iter().find(|a| a.main_content) {
        Some(a) => keys::attachment_key(folder, &a.attachment_id, a.name()),
        None => keys::body_key(folder),
    }
}

/// The note to keep before a delivery of `listed` starts at `now`: listed as unread, its
/// facts, kept while e-Box keeps the message (at least a day); listed as read, none (see
/// [`facts`]).
pub(super) fn note<'a>(
    provider_id: &'a str,
    listed: &'a ListedMessage,
    now: DateTime<Utc>,
) -> Option<RetrievalNote<'a>> {
    if listed.message.read_status == Some(true) {
        return None;
    }
    let expires = listed.message.expiration_date.unwrap_or(now + Duration::days(90));
    Some(RetrievalNote {
        message: MessageRef {
            provider_id,
            message_id: &listed.message.message_id,
        },
        retrieval: Retrieval {
            at: now,
            read_before: false,
        },
        keep_until: expires.max(now + Duration::days(1)),
    })
}

/// Keeps the notes of messages whose deliveries are about to start, in one write: for
/// each, its facts and whether this is the message's first attempt (as [`facts`] says).
pub(super) async fn keep(
    ledger: &dyn Ledger,
    entity: &EntityId,
    notes: &[RetrievalNote<'_>],
) -> Vec<Result<(Retrieval, bool), Failure>> {
    let kept = ledger.note_retrievals(entity, notes).await;
    notes
        .iter()
        .zip(kept)
        .map(|(note, kept)| {
            let kept = kept.map_err(Failure::store)?;
            Ok((kept, kept == note.retrieval))
        })
        .collect()
}

/// The facts of this delivery's retrieval, taken just before its content is fetched.
///
/// Listed as unread, the facts are kept in the state table before the download that
/// marks the message read, so that an attempt that dies after the download leaves them to
/// the next (the first facts kept are the ones that stay). Listed as read: by a person, or
/// by an earlier attempt of ours, whose facts are then in the state table or, from before
/// they were kept there, with the content it stored.
///
/// With the facts, whether this attempt is the message's first: its note was new (an
/// earlier attempt noted its own moment first, before anything it wrote).
pub(super) async fn facts(
    (ledger, objects): (&dyn Ledger, &dyn ObjectStore),
    entity: &EntityId,
    now: DateTime<Utc>,
    message: MessageRef<'_>,
    listed: &ListedMessage,
    folder: &str,
) -> Result<(Retrieval, bool), Failure> {
    if let Some(note) = note(message.provider_id, listed, now) {
        return keep(ledger, entity, &[note]).await.remove(0);
    }
    if let Some(noted) = ledger.noted_retrieval(entity, &message).await.map_err(Failure::store)? {
        return Ok((noted, false));
    }
    let key = main_content_key(folder, listed);
    let stored = objects.head(&key).await.map_err(Failure::store)?;
    let read_before = Retrieval {
        at: now,
        read_before: true,
    };
    let facts = stored.and_then(|meta| from_metadata(&meta.metadata));
    Ok((facts.unwrap_or(read_before), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_facts_come_back_from_their_metadata() {
        let r = Retrieval {
            at: "2026-03-02T09:00:00.123Z".parse().unwrap(),
            read_before: true,
        };
        let stored: BTreeMap<String, String> = metadata(&r).into_iter().collect();
        assert_eq!(from_metadata(&stored), Some(r));
        assert_eq!(from_metadata(&BTreeMap::new()), None);
    }
}
