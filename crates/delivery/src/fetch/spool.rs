//! A temporary file for an attachment that must be hashed before it can be uploaded.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use ebox::EboxError;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::ports::Sha256;

/// Removed when dropped.
pub(super) struct Spool {
    pub(super) path: PathBuf,
}

pub(super) enum SpoolError {
    Ebox(EboxError),
    Io(std::io::Error),
}

impl Spool {
    pub(super) fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(format!("digipost-ebox-{}.part", uuid::Uuid::new_v4().simple())),
        }
    }

    /// Writes the chunks to the file; their length and SHA-256.
    pub(super) async fn fill(
        &self,
        mut chunks: futures::stream::BoxStream<'static, Result<Bytes, EboxError>>,
    ) -> Result<(u64, Sha256), SpoolError> {
        use sha2::Digest;
        let mut file = tokio::fs::File::create(&self.path).await.map_err(SpoolError::Io)?;
        let mut hasher = sha2::Sha256::new();
        let mut length = 0u64;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(SpoolError::Ebox)?;
            hasher.update(&chunk);
            length += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(SpoolError::Io)?;
        }
        file.flush().await.map_err(SpoolError::Io)?;
        Ok((length, hasher.finalize().into()))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
