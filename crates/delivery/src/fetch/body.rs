//! A message's body, main content or annex, into the verdeelbak as e-Box sent it.

use ebox::model::MessageProvider;

use super::Step;
use super::deliver::Deliverer;
use super::failure::Failure;
use super::retrieval::{self, Retrieval};
use crate::ports::*;
use crate::verdeelbak::keys;
use crate::verdeelbak::message_json::BodySource;

/// A message's body as read, before it is stored.
pub(super) struct ReadBody {
    body: Option<ebox::Body>,
    source: BodySource,
}

impl Deliverer<'_> {
    /// The body, main content or annex, as e-Box sent it. A body inside the message needs
    /// no call of its own.
    pub(super) async fn read_body(
        &self,
        provider: &MessageProvider,
        m: &ebox::model::Message,
    ) -> Result<ReadBody, Failure> {
        Ok(match m.inline_body() {
            Some((text, raw)) => ReadBody {
                body: Some(ebox::Body {
                    raw: bytes::Bytes::from(serde_json::to_vec(raw).expect("JSON values serialise")),
                    text: text.clone(),
                }),
                source: BodySource::Inline,
            },
            None => ReadBody {
                body: self
                    .mailbox
                    .body(provider, &m.message_id)
                    .await
                    .map_err(|e| Failure::ebox(Step::Body, e))?,
                source: BodySource::BodyCall,
            },
        })
    }

    /// The body read, stored as e-Box sent it; its text, where it came from and its size.
    pub(super) async fn store_body(
        &self,
        read: ReadBody,
        m: &ebox::model::Message,
        folder: &str,
        retrieval: &Retrieval,
    ) -> Result<Option<(ebox::model::Translated, BodySource, u64)>, Failure> {
        let ReadBody { body, source } = read;
        let Some(body) = body else {
            if m.body_main_content == Some(true) {
                // The main content is missing: never a message without it.
                return Err(Failure::Refused {
                    step: Step::Body,
                    detail: format!(
                        "message {}: the body is its main content, but e-Box has none (404)",
                        m.message_id
                    ),
                    retryable: true,
                });
            }
            return Ok(None);
        };
        let bytes = body.raw.len() as u64;
        self.may_write()?;
        let put = PutObject {
            key: keys::body_key(folder),
            sha256: sha256_of(&body.raw),
            body: ObjectBody::Bytes(body.raw),
            content_type: "application/json".into(),
            if_absent: false,
            metadata: retrieval::metadata(retrieval),
        };
        self.objects.put(put).await.map_err(Failure::store)?;
        Ok(Some((body.text, source, bytes)))
    }
}
