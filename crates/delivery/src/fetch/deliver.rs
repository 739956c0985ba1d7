//! One message into the verdeelbak: attachments and body first, `message.json` last
//! (created once: its presence means complete), then its event, then the ledger row.
//!
//! A message the ledger does not know may still be complete in the verdeelbak: a run
//! died between its `message.json` and its ledger row. Its `message.json` is looked for
//! first; when it is there and is this message's, only the ledger row is written, so
//! nothing in a message folder is ever written after its `message.json`.

use ebox::model::{ListedMessage, MessageProvider, ReferenceKind};

use super::failure::Failure;
use super::lease::LazyLease;
use super::outbox::Publisher;
use super::outcome::{Noted, Stored};
use super::retrieval::{self, Retrieval};
use super::{Clock, Step};
use crate::EntityId;
use crate::ports::*;
use crate::verdeelbak::keys;
use crate::verdeelbak::message_json::{self, BodySource, StoredAttachment};

pub(super) fn put_json(key: &str, json: Vec<u8>, if_absent: bool) -> PutObject {
    PutObject {
        key: key.to_owned(),
        sha256: sha256_of(&json),
        body: ObjectBody::Bytes(bytes::Bytes::from(json)),
        content_type: "application/json".into(),
        if_absent,
        metadata: Vec::new(),
    }
}

/// What a delivery hands on.
pub(super) enum Delivered {
    /// Not stored (failed, or the lease is gone): nothing to record.
    Failed(Failure),
    Stored(Stored),
}

/// What was stored of a message before its `message.json`.
struct Parts {
    retrieval: Retrieval,
    bytes: u64,
    attachments: Vec<StoredAttachment>,
    body: Option<(ebox::model::Translated, BodySource)>,
}

/// The step that delivers one message into the entity's verdeelbak: its e-Box session,
/// the bucket, the ledger's rows (and retrieval facts), the lease that gates each write,
/// and the publisher of each new row's event.
pub(super) struct Deliverer<'a> {
    pub entity: &'a EntityId,
    /// The entity's verdeelbak prefix.
    pub prefix: &'a str,
    pub mailbox: &'a dyn Mailbox,
    pub objects: &'a dyn ObjectStore,
    pub ledger: &'a dyn Ledger,
    pub clock: &'a dyn Clock,
    pub lease: &'a LazyLease<'a>,
    pub publisher: &'a Publisher<'a>,
    /// Where attachments without a digest are hashed before upload.
    pub spool_dir: &'a std::path::Path,
}

impl Deliverer<'_> {
    pub(super) fn folder(&self, provider: &MessageProvider, message_id: &str) -> String {
        keys::message_folder(self.prefix, &provider.message_provider_id, message_id)
    }

    /// The keys a delivery of `m` would write (for dry runs).
    pub(super) fn planned_keys(&self, provider: &MessageProvider, m: &ListedMessage) -> Vec<String> {
        let folder = self.folder(provider, &m.message.message_id);
        let mut planned: Vec<String> = m
            .message
            .attachments()
            .iter()
            .map(|a| keys::attachment_key(&folder, &a.attachment_id, a.name()))
            .collect();
        // Every message may have a body: only reading it would tell.
        planned.push(keys::body_key(&folder));
        planned.push(keys::message_json_key(&folder));
        planned
    }

    /// Fails unless the run may write now (see [`super::lease::LazyLease::holds`]).
    pub(super) fn may_write(&self) -> Result<(), Failure> {
        if self.lease.holds() {
            Ok(())
        } else {
            Err(Failure::lease_lost())
        }
    }

    /// Stores one message, up to its `message.json`; only its event and ledger row are
    /// left (see [`super::record`]). A message an earlier run left complete but
    /// unrecorded is taken as it is.
    ///
    /// `noted`: the retrieval facts [`Self::note_retrievals`] kept for it, if it did.
    pub(super) async fn deliver(
        &self,
        provider: &MessageProvider,
        listed: &ListedMessage,
        noted: Option<Noted>,
    ) -> Delivered {
        let folder = self.folder(provider, &listed.message.message_id);
        let message_key = keys::message_json_key(&folder);
        let facts = match noted {
            Some(noted) => noted,
            None => self.retrieval(provider, listed, &folder).await,
        };
        let (retrieval, first_attempt) = match facts {
            Ok(facts) => facts,
            Err(failure) => return Delivered::Failed(failure),
        };
        // The message's first attempt needs no look for its message.json: no earlier one
        // can have left one (each notes its retrieval before it writes anything).
        match self
            .stored_message_json(provider, listed, &message_key, first_attempt)
            .await
        {
            Ok(Some(stored)) => {
                return Delivered::Stored(Stored {
                    message_key,
                    message_json: stored,
                    bytes: None,
                });
            }
            Ok(None) => {}
            Err(failure) => return Delivered::Failed(failure),
        }
        let parts = match self.store_parts(provider, listed, &folder, retrieval).await {
            Ok(parts) => parts,
            Err(failure) => return Delivered::Failed(failure),
        };
        self.complete(provider, listed, &folder, parts).await
    }

    /// The message's `message.json` when one is stored already; a file there that is
    /// not this message's is a failure, never overwritten.
    async fn stored_message_json(
        &self,
        provider: &MessageProvider,
        listed: &ListedMessage,
        key: &str,
        first_attempt: bool,
    ) -> Result<Option<bytes::Bytes>, Failure> {
        if first_attempt {
            return Ok(None);
        }
        let Some(stored) = self.objects.get(key).await.map_err(Failure::store)? else {
            return Ok(None);
        };
        let value: serde_json::Value = serde_json::from_slice(&stored).unwrap_or_default();
        let ours = value["entity_id"] == self.entity.as_str()
            && value["provider_id"] == provider.message_provider_id.as_str()
            && value["message_id"] == listed.message.message_id.as_str();
        if !ours {
            return Err(Failure::Refused {
                step: Step::Store,
                detail: format!("{key}: a message.json is there that is not this message's; it is left as it is"),
                retryable: false,
            });
        }
        Ok(Some(stored))
    }

    /// Keeps, in one write, the retrieval facts of the messages listed as unread among
    /// those whose deliveries start next (see [`retrieval::keep`]); for each message, its
    /// facts when it was one of them.
    pub(super) async fn note_retrievals(
        &self,
        provider: &MessageProvider,
        listed: &[&ListedMessage],
    ) -> Vec<Option<Noted>> {
        let now = self.clock.now();
        let notes: Vec<_> = listed
            .iter()
            .map(|m| retrieval::note(&provider.message_provider_id, m, now))
            .collect();
        let unread: Vec<RetrievalNote> = notes.iter().flatten().copied().collect();
        let mut kept = retrieval::keep(self.ledger, self.entity, &unread).await.into_iter();
        notes.iter().map(|note| note.and_then(|_| kept.next())).collect()
    }

    /// When the main content was first retrieved, and whether this is the message's first
    /// attempt (see [`retrieval::facts`]).
    async fn retrieval(
        &self,
        provider: &MessageProvider,
        listed: &ListedMessage,
        folder: &str,
    ) -> Result<(Retrieval, bool), Failure> {
        let message = MessageRef {
            provider_id: &provider.message_provider_id,
            message_id: &listed.message.message_id,
        };
        let ports = (self.ledger, self.objects);
        retrieval::facts(ports, self.entity, self.clock.now(), message, listed, folder).await
    }

    /// The attachments, one after the other, and beside them the body is read: every body,
    /// main content or annex, since only the body call says whether there is one. The body
    /// is stored once the attachments are, so a message that fails leaves nothing.
    async fn store_parts(
        &self,
        provider: &MessageProvider,
        listed: &ListedMessage,
        folder: &str,
        retrieval: Retrieval,
    ) -> Result<Parts, Failure> {
        let m = &listed.message;
        let attachments = async {
            // A listing that held only part of the attachments: the whole list, on its own.
            let asked;
            let attachments = if m.attachments_whole {
                m.attachments()
            } else {
                asked = self
                    .mailbox
                    .attachments(provider, &m.message_id)
                    .await
                    .map_err(|e| Failure::ebox(Step::Attachment, e))?;
                &asked[..]
            };
            let mut stored = Vec::with_capacity(attachments.len());
            for attachment in attachments {
                stored.push(
                    self.store_attachment(provider, &m.message_id, attachment, folder, &retrieval)
                        .await?,
                );
            }
            Ok(stored)
        };
        let (attachments, body) = futures::try_join!(attachments, self.read_body(provider, m))?;
        let body = self.store_body(body, m, folder, &retrieval).await?;
        let mut bytes: u64 = attachments.iter().map(|a| a.size_bytes).sum();
        let body = body.map(|(text, source, size)| {
            bytes += size;
            (text, source)
        });
        Ok(Parts {
            retrieval,
            bytes,
            attachments,
            body,
        })
    }

    /// `message.json`.
    async fn complete(
        &self,
        provider: &MessageProvider,
        listed: &ListedMessage,
        folder: &str,
        parts: Parts,
    ) -> Delivered {
        let m = &listed.message;
        let body_key = keys::body_key(folder);
        let json = message_json::build(
            self.entity,
            &provider.message_provider_id,
            provider.api_version,
            listed,
            &self.names(provider, m).await,
            message_json::Stored {
                body: parts.body.as_ref().map(|(text, source)| message_json::StoredBody {
                    text,
                    key: &body_key,
                    source: *source,
                }),
                attachments: &parts.attachments,
                retrieval: &parts.retrieval,
            },
        );
        let key = keys::message_json_key(folder);
        let bytes = parts.bytes + json.len() as u64;
        let json = bytes::Bytes::from(json);
        if let Err(failure) = self.may_write() {
            return Delivered::Failed(failure);
        }
        // Created once. Already there: written by this very request when its answer was
        // lost, or by another run; either way that one is the message's.
        let json = match self.objects.put(put_json(&key, json.to_vec(), true)).await {
            Ok(Insert::Inserted) => json,
            Ok(Insert::AlreadyExists) => match self.stored_message_json(provider, listed, &key, false).await {
                Ok(Some(stored)) => stored,
                Ok(None) => return Delivered::Failed(Failure::store(StoreError::new("put object", &key, "vanished"))),
                Err(failure) => return Delivered::Failed(failure),
            },
            Err(e) => return Delivered::Failed(Failure::store(e)),
        };
        Delivered::Stored(Stored {
            message_key: key,
            message_json: json,
            bytes: Some(bytes),
        })
    }

    /// The names behind the message's ids, where the message does not carry them.
    async fn names(&self, provider: &MessageProvider, m: &ebox::model::Message) -> message_json::Names {
        let lookup = |kind: ReferenceKind, named: &ebox::model::Named| {
            let id = named.lookup_id().filter(|_| named.name.is_absent()).map(str::to_owned);
            async move {
                match id {
                    Some(id) => self.mailbox.reference_name(provider, kind, &id).await,
                    None => None,
                }
            }
        };
        let (message_type, sender_organization, sender_application) = futures::join!(
            lookup(ReferenceKind::MessageType, &m.message_type),
            lookup(ReferenceKind::SenderOrganization, &m.sender_organization),
            lookup(ReferenceKind::SenderApplication, &m.sender_application),
        );
        message_json::Names {
            message_type,
            sender_organization,
            sender_application,
        }
    }
}
