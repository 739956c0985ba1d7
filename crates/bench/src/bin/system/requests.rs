//! AWS requests counted as they go on the wire.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use testkit::fault_proxy::FaultProxy;

/// Counts AWS requests per service (and DynamoDB's per operation), from what a proxy in
/// front of moto saw: every request the stores made, the S3 writes sent past the SDK
/// among them. Clones share the proxy and the counts; without a proxy (the stores in
/// memory), there is nothing to count.
#[derive(Default, Clone)]
pub struct Requests {
    proxy: Option<Arc<FaultProxy>>,
    /// How many of the proxy's log entries were counted already.
    seen: Arc<AtomicUsize>,
}

impl Requests {
    pub fn through(proxy: FaultProxy) -> Self {
        Self {
            proxy: Some(Arc::new(proxy)),
            seen: Arc::default(),
        }
    }

    /// Where the stores' clients send their requests.
    pub fn url(&self) -> Option<String> {
        self.proxy.as_ref().map(|p| p.url())
    }

    /// The counts since the last call.
    pub fn take(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        let Some(proxy) = &self.proxy else {
            return counts;
        };
        let log = proxy.log();
        let from = self.seen.swap(log.len(), Ordering::SeqCst).min(log.len());
        for exchange in &log[from..] {
            let service = exchange.operation.split(':').next().unwrap_or("other");
            *counts.entry(service.to_owned()).or_default() += 1;
            // DynamoDB by operation too ("dynamodb:Query"), to tell reads from writes.
            if service == "dynamodb" {
                *counts.entry(exchange.operation.clone()).or_default() += 1;
            }
        }
        counts
    }
}
