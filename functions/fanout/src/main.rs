//! The fanout Lambda: fired by the schedule (or by hand with `{"entities": [...]}`), it
//! starts one asynchronous fetch per enabled connection and reports what it did.

use delivery::{aws, config::FanoutConfig, handlers, wiring};

// One thread: fanout waits on DynamoDB and on Lambda's answers to its invokes, it does not
// compute; a thread of its own for each core is only more to start and more memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = FanoutConfig::from_env()?;
    let clients = aws::AwsClients::new(&aws::load_from_env().await);
    let fanout = wiring::fanout(&clients, &config);
    lambda_runtime::run(lambda_runtime::service_fn(|event| handlers::fanout(&fanout, event))).await
}
