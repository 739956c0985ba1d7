//! A message's body and its attachments' content.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use reqwest::Url;
use sha2::Digest as _;

use super::Session;
use super::http::message_url;
use crate::error::EboxError;
use crate::model::{Attachment, MessageProvider, Translated, read_attachments};

/// A message's body: the bytes e-Box sent, and what they say.
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    pub raw: Bytes,
    pub text: Translated,
}

impl Session {
    /// The body (nl/fr/de), or None when the message has none (404). Reading it marks the
    /// message read when the body is its main content.
    pub async fn body(&self, provider: &MessageProvider, message_id: &str) -> Result<Option<Body>, EboxError> {
        let url = message_url(provider, message_id, &["body"])?;
        let what = format!("body of message {message_id}");
        match self.get_json_bytes::<serde_json::Value>(&what, &url, &[]).await {
            Ok((raw, value)) => Ok(Some(Body {
                text: Translated::read(&value).unwrap_or_default(),
                raw,
            })),
            Err(EboxError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A message's attachment list, asked for on its own: when the listing held only
    /// part of it.
    pub async fn attachments(
        &self,
        provider: &MessageProvider,
        message_id: &str,
    ) -> Result<Vec<Attachment>, EboxError> {
        let url = message_url(provider, message_id, &["attachments"])?;
        let what = format!("attachments of message {message_id}");
        Ok(read_attachments(&self.paged(&what, &url).await?))
    }

    /// An attachment's content as a stream never held whole, verified as it flows (see
    /// [`AttachmentDownload::from_chunks`]). The declared `size` (kB) is never a check.
    pub async fn attachment(
        &self,
        provider: &MessageProvider,
        message_id: &str,
        attachment: &Attachment,
    ) -> Result<AttachmentDownload, EboxError> {
        let what = format!("attachment {} of message {message_id}", attachment.attachment_id);
        let url = content_url(provider, message_id, attachment)?;
        // Only the request is retried here; a transfer cut later is retried by the caller,
        // which has to start its upload again anyway.
        let slot = self.slot().await;
        let response = self.with_retries(&what, || self.get_once(&what, &url, &[])).await?;
        Ok(AttachmentDownload::new(what, response, slot, attachment))
    }
}

/// Where an attachment's content is: its `contentHref` when given (resolved against
/// the provider's URL, and only on the provider's own origin, since the token goes
/// with the request), else the path built from its id.
fn content_url(provider: &MessageProvider, message_id: &str, a: &Attachment) -> Result<Url, EboxError> {
    // The registry's URL as a base for relative links: with its last slash, so that
    // `ebox/...` lands under it, not beside it.
    let mut base = super::http::parse_url("provider URL", &provider.message_provider_url)?;
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    let what = format!("attachment {} of message {message_id}", a.attachment_id);
    if let Some(href) = &a.content_href {
        let url = base
            .join(href)
            .map_err(|e| EboxError::malformed(&what, format!("contentHref {:?}: {e}", without_query(href))))?;
        if url.origin() == base.origin() {
            return Ok(url);
        }
        if a.id_assigned {
            return Err(EboxError::Refused {
                what,
                status: 0,
                message: format!(
                    "contentHref points outside provider {} ({}); the token is not sent there",
                    provider.message_provider_id,
                    url.origin().ascii_serialization()
                ),
            });
        }
        tracing::warn!(message_id, attachment_id = %a.attachment_id, "contentHref on another origin; using the registry's own path");
    } else if a.id_assigned {
        return Err(EboxError::malformed(
            &what,
            "it has neither attachmentId nor contentHref",
        ));
    }
    message_url(provider, message_id, &["attachments", &a.attachment_id, "content"])
}

/// A link as it may be shown: without a query, which can hold a signature.
fn without_query(href: &str) -> &str {
    href.split(['?', '#']).next().unwrap_or_default()
}

/// An attachment being downloaded.
pub struct AttachmentDownload {
    /// From Content-Length, when the server sent one.
    pub content_length: Option<u64>,
    /// The digest e-Box announced.
    pub expected_sha256: Option<[u8; 32]>,
    pub chunks: BoxStream<'static, Result<Bytes, EboxError>>,
    /// The SHA-256 of what was streamed, set once the stream ended cleanly.
    pub sha256: Arc<OnceLock<[u8; 32]>>,
}

impl AttachmentDownload {
    fn new(
        what: String,
        response: reqwest::Response,
        slot: tokio::sync::OwnedSemaphorePermit,
        attachment: &Attachment,
    ) -> Self {
        let content_length = response.content_length();
        // The stream keeps the request's slot with e-Box until it is dropped.
        let chunks = response
            .bytes_stream()
            .map(move |chunk| {
                let _slot = &slot;
                chunk.map_err(|e| EboxError::transport(&what, &e))
            })
            .boxed();
        Self::from_chunks(content_length, attachment, chunks)
    }

    /// A download of `attachment` from its chunks as they arrive: hashed as they flow,
    /// checked against the digest e-Box gave and against `content_length` when known. The
    /// last chunk is held back until both are confirmed, and a mismatch or a short body
    /// ends the stream with an error instead: whoever writes these chunks somewhere never
    /// sees the whole body unless it is the one e-Box announced.
    pub fn from_chunks(
        content_length: Option<u64>,
        attachment: &Attachment,
        body: BoxStream<'static, Result<Bytes, EboxError>>,
    ) -> Self {
        let expected = attachment.expected_sha256();
        let sha256 = Arc::new(OnceLock::new());
        let check = Check {
            body,
            held: None,
            hasher: sha2::Sha256::new(),
            count: 0,
            content_length,
            expected,
            name: attachment.attachment_id.clone(),
            done: sha256.clone(),
        };
        // The state is None once the stream has ended, with an error or cleanly.
        let chunks = stream::unfold(Some(check), |state| async move { state?.next().await }).boxed();
        Self {
            content_length,
            expected_sha256: expected,
            chunks,
            sha256,
        }
    }
}

/// An attachment's chunks, checked as they flow (see [`AttachmentDownload::from_chunks`]).
struct Check {
    body: BoxStream<'static, Result<Bytes, EboxError>>,
    /// The chunk that may be the last, passed on once the next one arrives or the body
    /// checks out. With a known length only the chunk that completes it is held.
    held: Option<Bytes>,
    hasher: sha2::Sha256,
    count: u64,
    content_length: Option<u64>,
    expected: Option<[u8; 32]>,
    name: String,
    done: Arc<OnceLock<[u8; 32]>>,
}

type Next = Option<(Result<Bytes, EboxError>, Option<Check>)>;

impl Check {
    async fn next(mut self) -> Next {
        loop {
            match self.body.next().await {
                Some(Ok(chunk)) if chunk.is_empty() => {}
                Some(Ok(chunk)) => {
                    self.hasher.update(&chunk);
                    self.count += chunk.len() as u64;
                    match self.content_length {
                        // Short of the announced length it is not the last chunk: passed on
                        // at once, as a chunk held back keeps the buffer it was read into
                        // (up to 400 kB of the connection's) from being reused meanwhile.
                        Some(length) if self.count < length => return Some((Ok(chunk), Some(self))),
                        Some(length) if self.count > length => {
                            return Some((Err(self.wrong_length(length)), None));
                        }
                        // The last chunk, or perhaps the last: held until the body ends.
                        _ => {
                            if let Some(previous) = self.held.replace(chunk) {
                                return Some((Ok(previous), Some(self)));
                            }
                        }
                    }
                }
                Some(Err(e)) => return Some((Err(e), None)),
                None => return self.finish(),
            }
        }
    }

    fn wrong_length(&self, expected: u64) -> EboxError {
        EboxError::WrongLength {
            attachment: self.name.clone(),
            expected,
            actual: self.count,
        }
    }

    /// The body ended: its last chunk when length and digest check out, else the error.
    fn finish(mut self) -> Next {
        let actual: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
        let error = match (self.content_length, self.expected.filter(|e| *e != actual)) {
            (Some(expected), _) if self.count != expected => self.wrong_length(expected),
            (_, Some(expected_sha)) => EboxError::DigestMismatch {
                attachment: self.name,
                expected: hex::encode(expected_sha),
                actual: hex::encode(actual),
            },
            _ => {
                let _ = self.done.set(actual);
                return self.held.map(|last| (Ok(last), None));
            }
        };
        Some((Err(error), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attachment(v: serde_json::Value) -> Attachment {
        Attachment::read(0, &v)
    }

    fn with_digest_of(bytes: &[u8]) -> Attachment {
        use base64::Engine;
        use sha2::Digest;
        let value = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes));
        attachment(json!({"attachmentId": "a-1", "digest": {"digestMethod": "SHA-256", "digestValue": value}}))
    }

    /// A download fed by hand, one chunk at a time.
    fn fed(
        length: Option<u64>,
        a: &Attachment,
    ) -> (futures::channel::mpsc::UnboundedSender<Bytes>, AttachmentDownload) {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Bytes>();
        (tx, AttachmentDownload::from_chunks(length, a, rx.map(Ok).boxed()))
    }

    #[tokio::test]
    async fn with_a_known_length_only_the_chunk_that_completes_it_waits_for_the_check() {
        use futures::FutureExt;
        let body = vec![7u8; 30];
        let (tx, mut d) = fed(Some(30), &with_digest_of(&body));
        tx.unbounded_send(Bytes::copy_from_slice(&body[..10])).unwrap();
        // Passed on before the next chunk has come: a chunk held back keeps its read buffer.
        let first = d
            .chunks
            .next()
            .now_or_never()
            .expect("the first chunk waits for the second");
        assert_eq!(first.unwrap().unwrap().len(), 10);
        tx.unbounded_send(Bytes::new()).unwrap();
        tx.unbounded_send(Bytes::copy_from_slice(&body[10..])).unwrap();
        // The chunk that completes the length waits for the body's end, and the check.
        assert!(
            d.chunks.next().now_or_never().is_none(),
            "the last chunk came before the end"
        );
        drop(tx);
        assert_eq!(d.chunks.next().await.unwrap().unwrap().len(), 20);
        assert!(d.chunks.next().await.is_none());
        assert!(d.sha256.get().is_some());

        // A body past its length is refused as soon as it passes it, before the body ends,
        // and its announced length is never passed on whole.
        let (tx, mut d) = fed(Some(30), &with_digest_of(&body));
        tx.unbounded_send(Bytes::copy_from_slice(&body[..20])).unwrap();
        tx.unbounded_send(Bytes::copy_from_slice(&body[..20])).unwrap();
        assert_eq!(d.chunks.next().await.unwrap().unwrap().len(), 20);
        let err = d
            .chunks
            .next()
            .now_or_never()
            .expect("a body past its length waited for its end")
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(
                err,
                EboxError::WrongLength {
                    expected: 30,
                    actual: 40,
                    ..
                }
            ),
            "{err}"
        );
        assert!(d.chunks.next().await.is_none());
        drop(tx);

        // Without a length, every chunk may be the last: each waits for the next.
        let (tx, mut d) = fed(None, &with_digest_of(&body));
        tx.unbounded_send(Bytes::copy_from_slice(&body[..10])).unwrap();
        assert!(
            d.chunks.next().now_or_never().is_none(),
            "a chunk that may be the last was passed on"
        );
        tx.unbounded_send(Bytes::copy_from_slice(&body[10..])).unwrap();
        assert_eq!(d.chunks.next().await.unwrap().unwrap().len(), 10);
        drop(tx);
        assert_eq!(d.chunks.next().await.unwrap().unwrap().len(), 20);
        assert!(d.chunks.next().await.is_none());
    }

    #[test]
    fn content_comes_from_the_link_on_the_registry_origin_only() {
        let p = MessageProvider::new("p", "https://h.example/REST/registry/v3/");
        let url = |a: &Attachment| content_url(&p, "m 1", a).map(|u| u.to_string());
        let relative = attachment(json!({"contentHref": "ebox/messages/m1/attachments/x/content"}));
        assert_eq!(
            url(&relative).unwrap(),
            "https://h.example/REST/registry/v3/ebox/messages/m1/attachments/x/content"
        );
        let absolute = attachment(json!({"contentHref": "https://h.example/other/c?sig=1"}));
        assert_eq!(url(&absolute).unwrap(), "https://h.example/other/c?sig=1");
        // The token is never sent to another origin; with an id, the registry's own path.
        let elsewhere = attachment(json!({"contentHref": "https://evil.example/c"}));
        assert!(matches!(
            content_url(&p, "m", &elsewhere),
            Err(EboxError::Refused { .. })
        ));
        let with_id = attachment(json!({"attachmentId": "a/1", "contentHref": "https://evil.example/c"}));
        assert_eq!(
            url(&with_id).unwrap(),
            "https://h.example/REST/registry/v3/ebox/messages/m%201/attachments/a%2F1/content"
        );
        let nothing = attachment(json!({"fileName": "x.pdf"}));
        assert!(matches!(
            content_url(&p, "m", &nothing),
            Err(EboxError::Malformed { .. })
        ));
        let no_slash = MessageProvider::new("p", "https://h.example/REST/registry/v3");
        assert_eq!(
            content_url(&no_slash, "m", &relative).unwrap().path(),
            "/REST/registry/v3/ebox/messages/m1/attachments/x/content"
        );
    }
}
