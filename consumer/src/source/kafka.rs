//! Kafka through a consumer group (`CONSUMER_GROUP`), any Kafka-protocol broker.
//!
//! Offsets are committed by hand, after the local commit (`enable.auto.commit=false`); a new
//! group starts at the earliest retained offset. One product's events share a partition (the
//! record key is the product id), so each (product, store) row sees its events in order.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use futures::future::BoxFuture;
use inventory_shared::broker::KafkaConnection;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::{AckToken, Delivery, Source};
use crate::event::Incoming;

/// How long a batch waits for its first message.
const FIRST_WAIT: Duration = Duration::from_millis(1000);
/// How long it waits for each further one.
const NEXT_WAIT: Duration = Duration::from_millis(5);

/// A member of a Kafka consumer group.
pub struct KafkaSource {
    consumer: StreamConsumer,
    topic: String,
}

impl KafkaSource {
    /// Builds the consumer and subscribes to the topic (connects in the background).
    pub fn new(settings: &KafkaConnection, group: &str, member: &str) -> anyhow::Result<Self> {
        let mut config = ClientConfig::new();
        for (key, value) in settings.client_properties() {
            config.set(key, value);
        }
        config
            .set("group.id", group)
            .set("client.id", format!("inventory-consumer-{member}"))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000");
        let consumer: StreamConsumer = config.create().context("creating the Kafka consumer")?;
        consumer
            .subscribe(&[&settings.kafka_topic])
            .context("subscribing to KAFKA_TOPIC")?;
        Ok(Self {
            consumer,
            topic: settings.kafka_topic.clone(),
        })
    }
}

impl Source for KafkaSource {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn next_batch(&mut self, max: usize) -> BoxFuture<'_, anyhow::Result<Vec<Delivery>>> {
        Box::pin(async move {
            let mut batch = Vec::new();
            let mut wait = FIRST_WAIT;
            while batch.len() < max {
                let message = match tokio::time::timeout(wait, self.consumer.recv()).await {
                    Err(_) => break,
                    Ok(message) => message.context("receiving from Kafka")?,
                };
                let event = match message.payload() {
                    Some(bytes) => Incoming::from_json(bytes),
                    None => Err(crate::event::ParseError::Missing("value")),
                };
                batch.push(Delivery {
                    event,
                    ack: AckToken::Kafka {
                        partition: message.partition(),
                        offset: message.offset(),
                    },
                });
                wait = NEXT_WAIT;
            }
            Ok(batch)
        })
    }

    fn ack(&mut self, tokens: Vec<AckToken>) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let mut next: HashMap<i32, i64> = HashMap::new();
            for token in tokens {
                if let AckToken::Kafka { partition, offset } = token {
                    let entry = next.entry(partition).or_insert(offset + 1);
                    *entry = (*entry).max(offset + 1);
                }
            }
            if next.is_empty() {
                return Ok(());
            }
            let mut list = TopicPartitionList::new();
            for (partition, offset) in next {
                list.add_partition_offset(&self.topic, partition, Offset::Offset(offset))
                    .context("building the offset list")?;
            }
            // Async: the commit is sent in the background; a lost one only means redelivery.
            self.consumer
                .commit(&list, CommitMode::Async)
                .context("committing Kafka offsets")
        })
    }
}
