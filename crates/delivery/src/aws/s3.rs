use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::StreamBody;

use super::store_error;
use crate::ports::*;

/// The verdeelbak bucket.
#[derive(Clone, Debug)]
pub struct S3Objects {
    client: Client,
    bucket: String,
}

impl S3Objects {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
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

#[async_trait]
impl ObjectStore for S3Objects {
    async fn put(&self, object: PutObject) -> Result<Insert, StoreError> {
        // S3 checks the checksum header itself; the body is also checked on this side, so
        // that a store which does not (an emulator) cannot hold a wrong object either.
        const OP: &str = "put object";
        let mut fault = None;
        let (body, length) = match object.body {
            ObjectBody::Bytes(b) => {
                if sha256_of(&b) != object.sha256 {
                    let message = "content does not match its SHA-256 checksum";
                    return Err(StoreError::new(OP, &object.key, message));
                }
                let len = b.len() as u64;
                (ByteStream::from(b), len)
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
                let frames = chunks.map(|c| c.map(http_body::Frame::data));
                // The SDK wants a `Sync` body; the stream is only ever polled from one task.
                let frames = sync_wrapper::SyncStream::new(frames);
                (ByteStream::from_body_1_x(StreamBody::new(frames)), length)
            }
        };
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&object.key)
            .body(body)
            .content_length(i64::try_from(length).unwrap_or(i64::MAX))
            .content_type(&object.content_type)
            // S3 verifies the bytes against this and refuses the write if they differ.
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(STANDARD.encode(object.sha256));
        if object.if_absent {
            request = request.if_none_match("*");
        }
        for (name, value) in &object.metadata {
            request = request.metadata(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(Insert::Inserted),
            Err(e) if object.if_absent && e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {
                Ok(Insert::AlreadyExists)
            }
            Err(e) => match fault.as_ref().and_then(|f| f.get()) {
                Some(body_fault) => Err(StoreError::new(OP, &object.key, body_fault.clone())),
                None => Err(store_error(OP, &object.key, e)),
            },
        }
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
