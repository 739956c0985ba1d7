use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

use crate::EntityId;
use crate::ports::{DispatchError, Dispatcher};

/// Starts the fetch function asynchronously (`InvocationType=Event`).
#[derive(Clone, Debug)]
pub struct LambdaDispatcher {
    client: aws_sdk_lambda::Client,
    function_name: String,
}

impl LambdaDispatcher {
    pub fn new(client: aws_sdk_lambda::Client, function_name: impl Into<String>) -> Self {
        Self {
            client,
            function_name: function_name.into(),
        }
    }
}

#[async_trait]
impl Dispatcher for LambdaDispatcher {
    async fn dispatch(&self, entity: &EntityId) -> Result<(), DispatchError> {
        let payload = serde_json::json!({"entity_id": entity.as_str()}).to_string();
        match self
            .client
            .invoke()
            .function_name(&self.function_name)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await
        {
            Ok(out) if out.function_error().is_none() => Ok(()),
            Ok(out) => Err(DispatchError {
                message: format!("invoke answered {}", out.function_error().unwrap_or_default()),
                retryable: false,
            }),
            Err(e) => {
                let store = super::store_error("invoke fetch", entity.as_str(), e);
                Err(DispatchError {
                    message: store.to_string(),
                    retryable: store.retryable,
                })
            }
        }
    }
}

/// Runs the fetch function now and waits for its report (`InvocationType=RequestResponse`):
/// an operator's run of one entity through the deployed function.
pub async fn run_fetch(
    client: &aws_sdk_lambda::Client,
    function_name: &str,
    request: &crate::run::FetchRequest,
) -> Result<crate::run::RunReport, String> {
    let entity = &request.entity_id;
    let payload = serde_json::json!({
        "entity_id": entity, "since": request.since, "dry_run": request.dry_run, "providers": request.providers,
    });
    let out = client
        .invoke()
        .function_name(function_name)
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .map_err(|e| super::store_error("invoke fetch", entity, e).to_string())?;
    let body = out.payload().map(|p| p.as_ref().to_vec()).unwrap_or_default();
    if let Some(error) = out.function_error() {
        return Err(format!(
            "entity {entity}: {function_name} failed ({error}): {}",
            String::from_utf8_lossy(&body)
        ));
    }
    serde_json::from_slice(&body)
        .map_err(|e| format!("entity {entity}: {function_name} answered something that is not a run report: {e}"))
}
