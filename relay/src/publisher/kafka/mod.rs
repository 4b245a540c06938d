//! `MESSAGE_BROKER=kafka`: an idempotent `rdkafka` producer (bundled librdkafka) writing the
//! event envelope (`docs/architecture.md`, "Event schema") to one topic.
//!
//! - Record key = the event's partition key (the product id); value = the envelope JSON;
//!   headers `event_id`, `event_type`, `seq`.
//! - `enable.idempotence=true`, `acks=all`, at most 5 requests in flight: librdkafka retries
//!   without reordering or duplicating the records of one partition.
//! - A batch counts as published only when every record of it is acknowledged: all records are
//!   queued at once (librdkafka batches them into few produce requests), then every delivery
//!   report is awaited in order.
//! - **The partition is chosen here**, not by librdkafka: `murmur2(key) % partitions`, the same
//!   function as the Java client's default partitioner, with the partition count read from the
//!   topic's metadata. (Adding partitions to the topic remaps keys, as it does for every Kafka
//!   producer; the relay reads the new count when it restarts or after a failed batch.)
//! - Crash recovery is by membership: [`Publisher::already_published`] reads the last records
//!   of every partition (the step's reconciliation window) and names the `seq` headers it
//!   finds. Not "at most the partition's last `seq`": on PostgreSQL events reach a partition
//!   out of `seq` order (a smaller `seq` can commit after a larger one was published).
//! - The broker being down never fails construction: librdkafka connects in the background and
//!   publishing fails with [`PublishError::Transient`] until it answers.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;
use inventory_shared::outbox::StoredEvent;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use super::{BatchFailure, PublishError, Publisher};

mod context;
mod partition;
mod settings;
mod tail;

pub use context::RelayContext;
pub use partition::partition_for;
pub use settings::KafkaSettings;
use tail::{tail_seqs, topic_partitions};

/// Publishes to a Kafka topic with an idempotent producer.
pub struct KafkaPublisher {
    settings: KafkaSettings,
    /// `None` after a fatal producer error: rebuilt before the next batch.
    producer: Option<FutureProducer<RelayContext>>,
    /// The topic's partition count, read from metadata on first use and after failures.
    partitions: Option<i32>,
    /// Events acknowledged by the broker *after* an earlier event of their batch failed. The
    /// relay retries them with the failed one; they are not sent twice.
    acked_ahead: BTreeSet<i64>,
}

impl fmt::Debug for KafkaPublisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaPublisher")
            .field("settings", &self.settings)
            .field("partitions", &self.partitions)
            .field("acked_ahead", &self.acked_ahead.len())
            .finish_non_exhaustive()
    }
}

impl KafkaPublisher {
    /// Builds the publisher. Fails only on an invalid configuration, never because the broker
    /// is down (librdkafka connects in the background).
    pub fn new(settings: &KafkaSettings) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !settings.connection.kafka_topic.trim().is_empty(),
            "KAFKA_TOPIC must not be empty"
        );
        let producer = build_producer(settings)
            .map_err(|e| anyhow::anyhow!("invalid Kafka configuration (KAFKA_*): {e}"))?;
        tracing::info!(
            brokers = %settings.connection.kafka_brokers,
            topic = %settings.connection.kafka_topic,
            security_protocol = settings.connection.kafka_security_protocol.as_deref().unwrap_or("plaintext"),
            "Kafka publisher ready (idempotent, acks=all); connects in the background"
        );
        Ok(Self {
            settings: settings.clone(),
            producer: Some(producer),
            partitions: None,
            acked_ahead: BTreeSet::new(),
        })
    }

    fn producer(&mut self) -> Result<FutureProducer<RelayContext>, PublishError> {
        if let Some(producer) = &self.producer {
            return Ok(producer.clone());
        }
        let producer = build_producer(&self.settings)
            .map_err(|e| PublishError::Transient(format!("creating the Kafka producer: {e}")))?;
        self.producer = Some(producer.clone());
        Ok(producer)
    }

    /// The topic's partition count: cached, or read from metadata when `refresh` or unknown.
    async fn partition_count(&mut self, refresh: bool) -> Result<i32, PublishError> {
        if let (Some(count), false) = (self.partitions, refresh) {
            return Ok(count);
        }
        let producer = self.producer()?;
        let topic = self.settings.connection.kafka_topic.clone();
        let timeout = self.settings.metadata_timeout();
        let count =
            tokio::task::spawn_blocking(move || topic_partitions(&producer, &topic, timeout))
                .await
                .map_err(|e| PublishError::Transient(format!("metadata task failed: {e}")))??;
        self.partitions = Some(count);
        Ok(count)
    }

    /// After an error: a producer in a fatal state is replaced, and the partition count is
    /// read again before the next batch.
    fn after_failure(&mut self) {
        self.partitions = None;
        if let Some((code, reason)) = self
            .producer
            .as_ref()
            .and_then(|p| p.client().fatal_error())
        {
            tracing::warn!(%code, %reason, "Kafka producer hit a fatal error; creating a new one");
            self.producer = None;
        }
    }

    async fn publish_batch(&mut self, events: &[StoredEvent]) -> Result<(), BatchFailure> {
        if events.is_empty() {
            return Ok(());
        }
        // Anything older than the batch is published and marked already.
        self.acked_ahead = self.acked_ahead.split_off(&events[0].seq);
        let fail0 = |error| BatchFailure {
            published: 0,
            error,
        };
        let partitions = self.partition_count(false).await.map_err(fail0)?;
        let producer = self.producer().map_err(fail0)?;
        let topic = self.settings.connection.kafka_topic.as_str();
        let timeout = self.settings.kafka_timeout;

        // Queue every record first so librdkafka can batch them; stop at the first record that
        // cannot even be queued (too large, or the queue stays full).
        let mut deliveries = Vec::with_capacity(events.len());
        let mut queue_error = None;
        for event in events {
            let partition = partition_for(event.partition_key.as_bytes(), partitions);
            if self.acked_ahead.contains(&event.seq) {
                deliveries.push(None);
                continue;
            }
            let payload = event.envelope_json();
            let seq = event.seq.to_string();
            let headers = OwnedHeaders::new_with_capacity(3)
                .insert(Header {
                    key: "event_id",
                    value: Some(event.id.as_str()),
                })
                .insert(Header {
                    key: "event_type",
                    value: Some(event.event_type.as_str()),
                })
                .insert(Header {
                    key: "seq",
                    value: Some(seq.as_str()),
                });
            let mut record = FutureRecord::to(topic)
                .key(event.partition_key.as_str())
                .payload(payload.as_str())
                .partition(partition)
                .headers(headers);
            let queued_until = tokio::time::Instant::now() + timeout;
            loop {
                match producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push(Some(delivery));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                        if tokio::time::Instant::now() < queued_until =>
                    {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((error, _)) => {
                        queue_error = Some(classify(&error));
                        break;
                    }
                }
            }
            if queue_error.is_some() {
                break;
            }
        }

        // Await every delivery report, in order. The first failure ends the acknowledged
        // prefix; records acknowledged after it are remembered so the retry does not resend them.
        let mut first_failure: Option<(usize, PublishError)> = None;
        let grace = timeout + Duration::from_secs(5);
        let queued = deliveries.len();
        for (index, delivery) in deliveries.into_iter().enumerate() {
            let seq = events[index].seq;
            let outcome = match delivery {
                None => Ok(()),
                Some(delivery) => match tokio::time::timeout(grace, delivery).await {
                    Ok(Ok(Ok(_))) => Ok(()),
                    Ok(Ok(Err((error, _)))) => Err(classify(&error)),
                    Ok(Err(_canceled)) => Err(PublishError::Transient(
                        "the producer was closed before the broker answered".into(),
                    )),
                    Err(_) => Err(PublishError::Transient(
                        "no delivery report in time (outcome unknown)".into(),
                    )),
                },
            };
            match (outcome, &first_failure) {
                (Ok(()), None) => {
                    self.acked_ahead.remove(&seq);
                }
                (Ok(()), Some(_)) => {
                    self.acked_ahead.insert(seq);
                }
                (Err(error), None) => first_failure = Some((index, error)),
                (Err(_), Some(_)) => {}
            }
        }
        if first_failure.is_none()
            && let Some(error) = queue_error
        {
            // Everything queued was acknowledged; the record after them could not be queued.
            first_failure = Some((queued, error));
        }
        match first_failure {
            None => Ok(()),
            Some((published, error)) => {
                tracing::warn!(published, error = %error, topic, "Kafka batch not fully acknowledged");
                self.after_failure();
                Err(BatchFailure { published, error })
            }
        }
    }

    async fn find_already_published(
        &mut self,
        oldest: i64,
        window: usize,
    ) -> Result<Vec<i64>, PublishError> {
        let partitions = self.partition_count(true).await?;
        let settings = self.settings.clone();
        let mut found =
            tokio::task::spawn_blocking(move || tail_seqs(&settings, partitions, oldest, window))
                .await
                .map_err(|e| PublishError::Transient(format!("tail read task failed: {e}")))??;
        found.extend(self.acked_ahead.range(oldest..));
        found.sort_unstable();
        found.dedup();
        if !found.is_empty() {
            tracing::info!(
                count = found.len(),
                "events already in Kafka (published before a restart)"
            );
        }
        Ok(found)
    }
}

impl Publisher for KafkaPublisher {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn publish<'a>(
        &'a mut self,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), BatchFailure>> {
        Box::pin(self.publish_batch(events))
    }

    fn already_published(
        &mut self,
        oldest: i64,
        window: usize,
    ) -> BoxFuture<'_, Result<Vec<i64>, PublishError>> {
        Box::pin(self.find_already_published(oldest, window))
    }

    fn ping(&mut self) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async {
            let producer = self.producer()?;
            let topic = self.settings.connection.kafka_topic.clone();
            let timeout = self.settings.metadata_timeout().min(Duration::from_secs(2));
            tokio::task::spawn_blocking(move || topic_partitions(&producer, &topic, timeout))
                .await
                .map_err(|e| PublishError::Transient(format!("metadata task failed: {e}")))?
                .map(|_| ())
        })
    }
}

fn build_producer(settings: &KafkaSettings) -> Result<FutureProducer<RelayContext>, KafkaError> {
    let timeout_ms = settings
        .kafka_timeout
        .as_millis()
        .clamp(1, i32::MAX as u128)
        .to_string();
    settings
        .client_config()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("max.in.flight.requests.per.connection", "5")
        .set("message.timeout.ms", &timeout_ms)
        // The relay hands over a whole batch at once, so librdkafka batches well without
        // lingering; a short linger keeps the per-batch round trip (and the lag) small.
        .set("linger.ms", "1")
        .set("queue.buffering.max.messages", "200000")
        .create_with_context(RelayContext::default())
}

/// Rejected: the broker (or librdkafka's local checks) refuses this record for itself, so
/// retrying cannot help. Everything else (unreachable, timeouts, queue full, leader changes,
/// authorization, unknown outcome) is transient.
fn classify(error: &KafkaError) -> PublishError {
    use RDKafkaErrorCode as C;
    match error.rdkafka_error_code() {
        Some(
            C::MessageSizeTooLarge
            | C::InvalidMessageSize
            | C::InvalidRecord
            | C::MessageBatchTooLarge
            | C::InvalidTimestamp
            | C::BadMessage,
        ) => PublishError::Rejected(error.to_string()),
        _ => PublishError::Transient(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_errors_are_rejections_and_the_rest_transient() {
        let too_large = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert!(matches!(classify(&too_large), PublishError::Rejected(_)));
        let timed_out = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        assert!(matches!(classify(&timed_out), PublishError::Transient(_)));
        let queue_full = KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull);
        assert!(matches!(classify(&queue_full), PublishError::Transient(_)));
    }
}
