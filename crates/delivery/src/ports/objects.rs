//! Objects: the verdeelbak.

use std::fmt;
use std::io;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use super::{Insert, StoreError};

pub type Sha256 = [u8; 32];

pub enum ObjectBody {
    Bytes(Bytes),
    /// A body that is never held whole: `length` bytes arriving in chunks.
    Stream {
        length: u64,
        chunks: BoxStream<'static, Result<Bytes, io::Error>>,
        /// The producer checks the chunks against `length` and the SHA-256 as they flow,
        /// holding back the last one until both are confirmed and ending in an error
        /// instead (e-Box's downloads do): the store need not hash them again.
        checked: bool,
    },
}

impl fmt::Debug for ObjectBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectBody::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            ObjectBody::Stream { length, .. } => write!(f, "Stream({length} bytes)"),
        }
    }
}

#[derive(Debug)]
pub struct PutObject {
    pub key: String,
    pub body: ObjectBody,
    /// SHA-256 of the body. The store refuses a body whose bytes do not match.
    pub sha256: Sha256,
    pub content_type: String,
    /// Write only when nothing exists under the key yet.
    pub if_absent: bool,
    /// User metadata stored with the object (S3's `x-amz-meta-*`), names in lower case.
    pub metadata: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    pub sha256: Option<Sha256>,
    /// The object's user metadata (from `head`; a listing carries none).
    pub metadata: std::collections::BTreeMap<String, String>,
}

#[async_trait]
pub trait ObjectStore: Send + Sync {
    async fn put(&self, object: PutObject) -> Result<Insert, StoreError>;
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError>;
    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError>;
    /// Every object under `prefix`, in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError>;
}

pub fn sha256_of(bytes: &[u8]) -> Sha256 {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// What went wrong with a body on its way to a store.
pub type BodyFault = std::sync::Arc<std::sync::OnceLock<String>>;

/// A body on its way to a store, checked as it flows.
struct Verifier {
    chunks: BoxStream<'static, Result<Bytes, io::Error>>,
    held: Option<Bytes>,
    hasher: sha2::Sha256,
    seen: u64,
    length: u64,
    expected: Sha256,
    finished: bool,
    fault: BodyFault,
}

impl Verifier {
    fn fail(mut self, message: String) -> Option<(Result<Bytes, io::Error>, Self)> {
        let _ = self.fault.set(message.clone());
        self.finished = true;
        Some((Err(io::Error::new(io::ErrorKind::InvalidData, message)), self))
    }

    /// The next chunk to pass on: always the one before the last read, so the last is
    /// released only once the whole body is confirmed.
    async fn next(mut self) -> Option<(Result<Bytes, io::Error>, Self)> {
        use futures::StreamExt;
        use sha2::Digest;
        if self.finished {
            return None;
        }
        loop {
            match self.chunks.next().await {
                Some(Ok(chunk)) => {
                    self.seen += chunk.len() as u64;
                    self.hasher.update(&chunk);
                    if self.seen > self.length {
                        let length = self.length;
                        return self.fail(format!("body is longer than the {length} bytes announced"));
                    }
                    if let Some(previous) = self.held.replace(chunk) {
                        return Some((Ok(previous), self));
                    }
                }
                Some(Err(e)) => return self.fail(format!("body could not be read: {e}")),
                None => {
                    if self.seen != self.length {
                        let message = format!("body has {} bytes, {} announced", self.seen, self.length);
                        return self.fail(message);
                    }
                    let actual: Sha256 = std::mem::take(&mut self.hasher).finalize().into();
                    if actual != self.expected {
                        return self.fail("content does not match its SHA-256 checksum".to_owned());
                    }
                    self.finished = true;
                    return self.held.take().map(|last| (Ok(last), self));
                }
            }
        }
    }
}

/// Checks a body against its length and SHA-256 as it flows, holding back the last chunk
/// until both are confirmed: a receiver that has not seen the whole body cannot complete
/// the object, so a mismatch is never stored, whatever the store does with checksums.
pub fn verified_body(
    chunks: BoxStream<'static, Result<Bytes, io::Error>>,
    length: u64,
    expected: Sha256,
) -> (BoxStream<'static, Result<Bytes, io::Error>>, BodyFault) {
    use futures::StreamExt;
    use sha2::Digest;
    let fault = BodyFault::default();
    let verifier = Verifier {
        chunks,
        held: None,
        hasher: sha2::Sha256::new(),
        seen: 0,
        length,
        expected,
        finished: false,
        fault: fault.clone(),
    };
    (futures::stream::unfold(verifier, Verifier::next).boxed(), fault)
}
