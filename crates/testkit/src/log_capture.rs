//! What a `tracing` subscriber writes, kept for a test to read.

use std::sync::{Arc, Mutex};

/// A log kept in memory: pass [`CapturedLog::writer`] to a subscriber's `with_writer`,
/// then read [`CapturedLog::text`].
#[derive(Clone, Default)]
pub struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    /// A writer into this log for each line the subscriber writes.
    pub fn writer(&self) -> impl Fn() -> CapturedLog + Send + Sync + 'static {
        let log = self.clone();
        move || log.clone()
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
