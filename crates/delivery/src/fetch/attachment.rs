//! One attachment into the verdeelbak: streamed straight through when its digest and
//! length are known up front, else hashed on local disk first.

use std::sync::Arc;

use ebox::EboxError;
use ebox::model::{Attachment, MessageProvider};
use futures::{StreamExt, TryStreamExt};

use super::Step;
use super::deliver::Deliverer;
use super::failure::Failure;
use super::spool::{Spool, SpoolError};
use crate::ports::*;
use crate::verdeelbak::keys;
use crate::verdeelbak::message_json::StoredAttachment;

type Chunks = futures::stream::BoxStream<'static, Result<bytes::Bytes, EboxError>>;

/// Where an attachment goes.
struct Target {
    key: String,
    content_type: String,
    /// The message's retrieval facts (see [`super::retrieval`]).
    metadata: Vec<(String, String)>,
}

impl Target {
    fn put(
        &self,
        length: u64,
        sha256: Sha256,
        chunks: futures::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>>,
        checked: bool,
    ) -> PutObject {
        PutObject {
            key: self.key.clone(),
            body: ObjectBody::Stream {
                length,
                chunks,
                checked,
            },
            sha256,
            content_type: self.content_type.clone(),
            if_absent: false,
            metadata: self.metadata.clone(),
        }
    }
}

/// Uploads of one attachment, the first included. The SDK cannot retry a streamed body,
/// so an upload that failed on a transient fault of the store is made again here, from a
/// new download.
const UPLOAD_ATTEMPTS: usize = 3;

/// What one upload stored: its length, its SHA-256, and whether e-Box's digest vouched for it.
type Uploaded = (u64, Sha256, bool);

impl Deliverer<'_> {
    pub(super) async fn store_attachment(
        &self,
        provider: &MessageProvider,
        message_id: &str,
        attachment: &Attachment,
        folder: &str,
        retrieval: &super::retrieval::Retrieval,
    ) -> Result<StoredAttachment, Failure> {
        use backon::{ExponentialBuilder, Retryable};
        let key = keys::attachment_key(folder, &attachment.attachment_id, attachment.name());
        let target = Target {
            key: key.clone(),
            content_type: attachment
                .media_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into()),
            metadata: super::retrieval::metadata(retrieval),
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(std::time::Duration::from_millis(200))
            .with_max_times(UPLOAD_ATTEMPTS - 1)
            .with_jitter();
        let (length, sha, verified) = (|| self.upload(provider, message_id, attachment, &target))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|f: &Failure| f.step() == Step::Store && f.retryable())
            .notify(|f: &Failure, after| {
                tracing::warn!(key = %target.key, error = %f, ?after, "attachment upload failed; streaming it again");
            })
            .await?;
        Ok(StoredAttachment {
            attachment_id: attachment.attachment_id.clone(),
            attachment_id_assigned: attachment.id_assigned,
            file_name: attachment.file_name.clone(),
            key,
            media_type: attachment.media_type.clone(),
            size_bytes: length,
            declared_size_kb: attachment.size_kb,
            sha256: hex(sha),
            main_content: attachment.main_content,
            digest_verified: verified,
        })
    }

    /// One download of the attachment into one upload.
    async fn upload(
        &self,
        provider: &MessageProvider,
        message_id: &str,
        attachment: &Attachment,
        target: &Target,
    ) -> Result<Uploaded, Failure> {
        self.may_write()?;
        let download = self
            .mailbox
            .attachment(provider, message_id, attachment)
            .await
            .map_err(|e| Failure::ebox(Step::Attachment, e))?;
        match (download.expected_sha256, download.content_length) {
            // The digest and the length are known up front: stream straight through.
            (Some(sha), Some(length)) => {
                self.stream_through(target, download.chunks, length, sha).await?;
                Ok((length, sha, true))
            }
            // Otherwise hash it on local disk first, then upload with its checksum.
            _ => {
                let verified = download.expected_sha256.is_some();
                let (length, sha) = self.spool_then_upload(target, download.chunks).await?;
                Ok((length, sha, verified))
            }
        }
    }

    async fn stream_through(&self, target: &Target, chunks: Chunks, length: u64, sha: Sha256) -> Result<(), Failure> {
        // What went wrong on e-Box's side, if anything: the store only sees a failed body.
        let problem = Arc::new(std::sync::Mutex::new(None::<EboxError>));
        let seen = problem.clone();
        let chunks = chunks
            .map_err(move |e| {
                let message = e.to_string();
                *seen.lock().unwrap() = Some(e);
                std::io::Error::other(message)
            })
            .boxed();
        // e-Box's download checks its own chunks against `length` and `sha` (see
        // [`ebox::AttachmentDownload::from_chunks`]).
        match self.objects.put(target.put(length, sha, chunks, true)).await {
            Ok(_) => Ok(()),
            Err(e) => Err(match problem.lock().unwrap().take() {
                Some(ebox_error) => Failure::ebox(Step::Attachment, ebox_error),
                None => Failure::store(e),
            }),
        }
    }

    async fn spool_then_upload(&self, target: &Target, chunks: Chunks) -> Result<(u64, Sha256), Failure> {
        let spool = Spool::new(self.spool_dir);
        let (length, sha) = self.spool(&spool, chunks).await?;
        let file = tokio::fs::File::open(&spool.path)
            .await
            .map_err(|source| Failure::Disk {
                what: "reading the spooled attachment".into(),
                source,
            })?;
        let chunks = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024).boxed();
        self.objects
            .put(target.put(length, sha, chunks, false))
            .await
            .map_err(Failure::store)?;
        Ok((length, sha))
    }

    async fn spool(&self, spool: &Spool, chunks: Chunks) -> Result<(u64, Sha256), Failure> {
        spool.fill(chunks).await.map_err(|e| match e {
            SpoolError::Ebox(e) => Failure::ebox(Step::Attachment, e),
            SpoolError::Io(source) => Failure::Disk {
                what: format!("spooling to {}", self.spool_dir.display()),
                source,
            },
        })
    }
}
