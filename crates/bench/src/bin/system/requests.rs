//! AWS requests counted as they go on the wire.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};

/// Counts AWS requests per service (and DynamoDB's per operation), from what goes on the
/// wire. Clones share the counts:
/// one goes into the SDK clients, one stays with the benchmark.
#[derive(Debug, Default, Clone)]
pub struct Requests(Arc<Mutex<BTreeMap<String, u64>>>);

impl Intercept for Requests {
    fn name(&self) -> &'static str {
        "count-requests"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let request = context.request();
        let service = match request.headers().get("x-amz-target") {
            Some(t) if t.starts_with("DynamoDB") => "dynamodb",
            Some(t) if t.starts_with("secretsmanager") => "secretsmanager",
            Some(_) => "other",
            None if request.uri().contains("/2015-03-31/") => "lambda",
            None => "s3",
        };
        let mut counts = self.0.lock().unwrap();
        *counts.entry(service.to_owned()).or_default() += 1;
        // DynamoDB by operation too ("dynamodb:Query"), to tell reads from writes.
        if let Some(op) = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.strip_prefix("DynamoDB_20120810."))
        {
            *counts.entry(format!("dynamodb:{op}")).or_default() += 1;
        }
        Ok(())
    }
}

impl Requests {
    /// The counts so far, which start again from nothing.
    pub fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}
