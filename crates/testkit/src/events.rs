//! What reached the event bus, as a subscriber sees it: on moto, a rule on the bus sends
//! every event of ours to an SQS queue, which is read back; in memory, the twin keeps them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::memory::MemoryBus;
use delivery::aws::AwsClients;
use delivery::verdeelbak::event::EVENT_SOURCE;
use serde_json::Value;

pub enum EventTap {
    Memory(Arc<MemoryBus>),
    Queue {
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        /// Every event envelope read so far.
        seen: std::sync::Mutex<Vec<Value>>,
    },
    /// No subscriber: the bus's events go nowhere but to the bus.
    Off,
}

impl EventTap {
    /// A queue on `moto` behind a rule on `bus`, reached directly (never through a proxy).
    pub async fn on_moto(moto: &crate::MotoServer, bus: &str) -> Self {
        let sdk = crate::sdk_for(&moto.url).await;
        Self::queue(&AwsClients::new(&sdk), aws_sdk_sqs::Client::new(&sdk), bus).await
    }

    /// A queue behind a rule on `bus` that matches every event this project publishes.
    pub async fn queue(clients: &AwsClients, sqs: aws_sdk_sqs::Client, bus: &str) -> Self {
        let name = crate::unique_name("events");
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        let pattern = serde_json::json!({"source": [EVENT_SOURCE]}).to_string();
        clients
            .events
            .put_rule()
            .name(&name)
            .event_bus_name(bus)
            .event_pattern(pattern)
            .send()
            .await
            .unwrap();
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("queue")
            .arn(arn)
            .build()
            .unwrap();
        clients
            .events
            .put_targets()
            .rule(&name)
            .event_bus_name(bus)
            .targets(target)
            .send()
            .await
            .unwrap();
        Self::Queue {
            sqs,
            queue_url,
            seen: Default::default(),
        }
    }

    /// The envelopes received so far, waiting (polling, up to `limit`) until there are
    /// at least `at_least`.
    pub async fn received(&self, at_least: usize, limit: Duration) -> Vec<Value> {
        match self {
            EventTap::Memory(bus) => bus
                .published()
                .into_iter()
                .map(|e| serde_json::json!({"source": EVENT_SOURCE, "detail-type": delivery::verdeelbak::event::EVENT_DETAIL_TYPE, "detail": e.detail}))
                .collect(),
            EventTap::Off => panic!("no tap on this event bus"),
            EventTap::Queue { sqs, queue_url, seen } => {
                let started = Instant::now();
                loop {
                    let out = sqs
                        .receive_message()
                        .queue_url(queue_url)
                        .max_number_of_messages(10)
                        .wait_time_seconds(if seen.lock().unwrap().len() >= at_least { 0 } else { 1 })
                        .send()
                        .await
                        .unwrap();
                    let batch = out.messages.unwrap_or_default();
                    let empty = batch.is_empty();
                    for m in batch {
                        let body: Value = serde_json::from_str(m.body().unwrap_or("null")).unwrap();
                        seen.lock().unwrap().push(body);
                        sqs.delete_message()
                            .queue_url(queue_url)
                            .receipt_handle(m.receipt_handle().unwrap_or_default())
                            .send()
                            .await
                            .unwrap();
                    }
                    let have = seen.lock().unwrap().len();
                    if (have >= at_least && empty) || started.elapsed() > limit {
                        return seen.lock().unwrap().clone();
                    }
                }
            }
        }
    }
}
