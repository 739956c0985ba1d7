//! The verdeelbak bucket: objects written, read back and listed.

mod direct;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::StreamBody;

use std::sync::Arc;

use aws_credential_types::provider::SharedCredentialsProvider;
use direct::Direct;

use super::store_error;
use crate::ports::*;

/// The verdeelbak bucket.
#[derive(Clone)]
pub struct S3Objects {
    client: Client,
    bucket: String,
    credentials: Option<SharedCredentialsProvider>,
    /// Writes without the SDK's pipeline, learnt at the first write ([`direct`]); `None`
    /// where the SDK must send them.
    direct: Arc<tokio::sync::OnceCell<Option<Direct>>>,
}

impl std::fmt::Debug for S3Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Objects")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl S3Objects {
    pub fn new(clients: &super::AwsClients, bucket: impl Into<String>) -> Self {
        Self {
            client: clients.s3.clone(),
            bucket: bucket.into(),
            credentials: clients.credentials.clone(),
            direct: Arc::default(),
        }
    }

    /// The same bucket with every write sent through the SDK's pipeline, as the direct
    /// path does where it cannot be taken (what a write through it costs, for comparison).
    pub fn through_sdk(clients: &super::AwsClients, bucket: impl Into<String>) -> Self {
        Self {
            direct: Arc::new(tokio::sync::OnceCell::new_with(Some(None))),
            ..Self::new(clients, bucket)
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

/// The names of the account's buckets (to find a stack's verdeelbak by its name).
pub async fn bucket_names(clients: &super::AwsClients) -> Result<Vec<String>, StoreError> {
    let mut pages = clients.s3.list_buckets().into_paginator().send();
    let mut names = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| store_error("list buckets", "", e))?;
        names.extend(page.buckets().iter().filter_map(|b| b.name().map(str::to_owned)));
    }
    Ok(names)
}

fn decode_sha256(b64: &str) -> Option<Sha256> {
    STANDARD.decode(b64).ok()?.try_into().ok()
}

/// One object to write, by either path.
struct Write<'a> {
    key: &'a str,
    body: Payload,
    length: u64,
    /// Base64 of the body's SHA-256, which S3 checks the bytes against.
    sha256: String,
    content_type: &'a str,
    if_absent: bool,
    metadata: &'a [(String, String)],
}

enum Payload {
    /// Held whole: can be sent again.
    Bytes(Bytes),
    /// Sent once, as it arrives.
    Stream(futures::stream::BoxStream<'static, Result<Bytes, std::io::Error>>),
}

impl S3Objects {
    /// A write through the SDK's pipeline, where the direct path is not taken ([`direct`]).
    async fn put_through_sdk(&self, write: Write<'_>) -> Result<Insert, StoreError> {
        let body = match write.body {
            Payload::Bytes(b) => ByteStream::from(b),
            Payload::Stream(chunks) => {
                let frames = chunks.map(|c| c.map(http_body::Frame::data));
                // The SDK wants a `Sync` body; the stream is only ever polled from one task.
                let frames = sync_wrapper::SyncStream::new(frames);
                ByteStream::from_body_1_x(StreamBody::new(frames))
            }
        };
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(write.key)
            .body(body)
            .content_length(i64::try_from(write.length).unwrap_or(i64::MAX))
            .content_type(write.content_type)
            // S3 verifies the bytes against this and refuses the write if they differ.
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(write.sha256);
        if write.if_absent {
            request = request.if_none_match("*");
        }
        for (name, value) in write.metadata {
            request = request.metadata(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(Insert::Inserted),
            Err(e) if write.if_absent && e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {
                Ok(Insert::AlreadyExists)
            }
            Err(e) => Err(store_error("put object", write.key, e)),
        }
    }
}

#[async_trait]
impl ObjectStore for S3Objects {
    async fn put(&self, object: PutObject) -> Result<Insert, StoreError> {
        // S3 checks the checksum header itself; the body is also checked on this side, so
        // that a store which does not (an emulator) cannot hold a wrong object either.
        const OP: &str = "put object";
        let mut fault = None;
        let (payload, length) = match object.body {
            ObjectBody::Bytes(b) => {
                if sha256_of(&b) != object.sha256 {
                    let message = "content does not match its SHA-256 checksum";
                    return Err(StoreError::new(OP, &object.key, message));
                }
                let len = b.len() as u64;
                (Payload::Bytes(b), len)
            }
            ObjectBody::Stream {
                length,
                chunks,
                checked,
            } => {
                // Hashed once per byte: a stream its producer checks is passed on as it is.
                let chunks = if checked {
                    chunks
                } else {
                    let (chunks, body_fault) = verified_body(chunks, length, object.sha256);
                    fault = Some(body_fault);
                    chunks
                };
                (Payload::Stream(chunks), length)
            }
        };
        let direct = self
            .direct
            .get_or_try_init(|| Direct::learn(&self.client, &self.bucket, self.credentials.clone()))
            .await
            .ok()
            .and_then(Option::as_ref);
        let write = Write {
            key: &object.key,
            body: payload,
            length,
            sha256: STANDARD.encode(object.sha256),
            content_type: &object.content_type,
            if_absent: object.if_absent,
            metadata: &object.metadata,
        };
        let written = match direct {
            Some(direct) => direct.put(write).await,
            None => self.put_through_sdk(write).await,
        };
        written.map_err(|e| match fault.as_ref().and_then(|f| f.get()) {
            Some(body_fault) => StoreError::new(OP, &object.key, body_fault.clone()),
            None => e,
        })
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectMeta {
                key: key.to_owned(),
                size: out.content_length().unwrap_or(0).max(0) as u64,
                sha256: out.checksum_sha256().and_then(decode_sha256),
                metadata: out.metadata().cloned().unwrap_or_default().into_iter().collect(),
            })),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(e) => Err(store_error("head object", key, e)),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let data = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| StoreError::new("get object", key, format!("body could not be read: {e}")))?;
                Ok(Some(data.into_bytes()))
            }
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
            Err(e) => Err(store_error("get object", key, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut all = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error("list objects", prefix, e))?;
            all.extend(page.contents().iter().map(|o| ObjectMeta {
                key: o.key().unwrap_or_default().to_owned(),
                size: o.size().unwrap_or(0).max(0) as u64,
                sha256: None,
                metadata: Default::default(),
            }));
        }
        all.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, body: &'static [u8], streamed: bool) -> PutObject {
        PutObject {
            key: key.into(),
            body: if streamed {
                let chunks = body.chunks(5).map(|c| Ok(Bytes::from_static(c))).collect::<Vec<_>>();
                ObjectBody::Stream {
                    length: body.len() as u64,
                    chunks: Box::pin(futures::stream::iter(chunks)),
                    checked: false,
                }
            } else {
                ObjectBody::Bytes(Bytes::from_static(body))
            },
            sha256: sha256_of(body),
            content_type: "application/pdf".into(),
            if_absent: true,
            metadata: vec![("message-id".into(), "m1".into())],
        }
    }

    /// The SDK's path is the one taken where the direct one cannot be; it and the direct
    /// path store the same object (size, checksum, metadata), whole or streamed, and
    /// meet an object already there alike.
    #[tokio::test]
    async fn both_paths_store_the_same_objects() {
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        let moto = testkit::MotoServer::start();
        let sdk = crate::aws::loader()
            .endpoint_url(&moto.url)
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "t",
            ))
            .load()
            .await;
        let clients = crate::aws::AwsClients::new(&sdk);
        let bucket = testkit::unique_name("paths");
        let location = CreateBucketConfiguration::builder()
            .location_constraint(BucketLocationConstraint::EuWest1)
            .build();
        clients
            .s3
            .create_bucket()
            .bucket(&bucket)
            .create_bucket_configuration(location)
            .send()
            .await
            .unwrap();
        let (direct, sdk_only) = (
            S3Objects::new(&clients, &bucket),
            S3Objects::through_sdk(&clients, &bucket),
        );
        let mut stored = Vec::new();
        for (name, objects) in [("direct", &direct), ("sdk", &sdk_only)] {
            for streamed in [false, true] {
                let key = format!("{name}/{streamed}/brief.pdf");
                let body: &'static [u8] = b"%PDF-1.7 the same bytes either way";
                assert_eq!(objects.put(put(&key, body, streamed)).await.unwrap(), Insert::Inserted);
                assert_eq!(
                    objects.put(put(&key, body, streamed)).await.unwrap(),
                    Insert::AlreadyExists
                );
                let meta = objects.head(&key).await.unwrap().unwrap();
                assert_eq!(meta.sha256, Some(sha256_of(body)), "{key}");
                stored.push((meta.size, meta.sha256, meta.metadata));
            }
        }
        assert!(stored.windows(2).all(|w| w[0] == w[1]), "{stored:?}");
        let taken = |o: &S3Objects| o.direct.get().map(Option::is_some);
        assert_eq!((taken(&direct), taken(&sdk_only)), (Some(true), Some(false)));
    }
}
