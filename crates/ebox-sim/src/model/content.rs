//! Attachment bytes, given or generated.

use bytes::{Bytes, BytesMut};
use sha2::Digest;

/// Attachment bytes: given, or generated from a seed as a stream so that a large
/// attachment is never held whole in memory.
#[derive(Debug, Clone)]
pub enum Content {
    Bytes(Bytes),
    Generated { seed: u64, len: u64 },
}

pub const CHUNK: usize = 64 * 1024;

impl Content {
    pub fn len(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::Generated { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `index`th chunk of at most [`CHUNK`] bytes.
    pub fn chunk(&self, index: u64) -> Bytes {
        match self {
            Content::Bytes(b) => {
                let start = (index as usize).saturating_mul(CHUNK).min(b.len());
                b.slice(start..(start + CHUNK).min(b.len()))
            }
            Content::Generated { seed, len } => generated_chunk(*seed, *len, index),
        }
    }

    pub fn chunks(&self) -> u64 {
        self.len().div_ceil(CHUNK as u64)
    }

    pub fn sha256(&self) -> [u8; 32] {
        let mut hasher = sha2::Sha256::new();
        for i in 0..self.chunks() {
            hasher.update(self.chunk(i));
        }
        hasher.finalize().into()
    }
}

/// Deterministic bytes: a PDF header, then blocks that differ by seed and position.
/// Cheap to make (a copy and a counter per chunk), so streaming is never CPU-bound.
fn generated_chunk(seed: u64, len: u64, index: u64) -> Bytes {
    let start = index * CHUNK as u64;
    if start >= len {
        return Bytes::new();
    }
    let size = (len - start).min(CHUNK as u64) as usize;
    let mut buf = BytesMut::with_capacity(size);
    let mut state = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    while buf.len() < size {
        state = splitmix64(state);
        let word = state.to_le_bytes();
        let take = (size - buf.len()).min(8);
        buf.extend_from_slice(&word[..take]);
    }
    if index == 0 {
        let header = b"%PDF-1.7\n";
        let n = header.len().min(size);
        buf[..n].copy_from_slice(&header[..n]);
    }
    buf.freeze()
}

pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
